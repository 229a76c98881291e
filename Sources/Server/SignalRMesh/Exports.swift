// An app imports only SignalRMesh: the mesh configuration (`MeshConfig`, `MeshOptions`) and the event-loop
// types that appear in this module's public API (`SocketAddress`, `Logger`, `LoggingSystem`) come with it.
@_exported import Mesh
@_exported import NetKit

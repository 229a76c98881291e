import Foundation
import GreeterHub
import SignalRMesh

// `Greeter --node a --peers peers.json`: one replica serving the GreeterHub (and the chat) from the peers file.
do {
    guard case .run(let commandLine) = try ServerCommandLine.parse(Array(CommandLine.arguments.dropFirst())) else {
        print(ServerCommandLine.usage)
        exit(0)
    }
    let config = try MeshConfig.load(path: commandLine.peersPath, environment: ProcessInfo.processInfo.environment)
    let replica = try ReplicaServer(
        config: config, options: commandLine.options,
        hubs: [ChatHub.make(), GreeterHub.make(replica: commandLine.node)])
    let entry = config.replica(commandLine.node)!
    let address = try replica.start(httpAddress: SocketAddress(host: entry.http.host, port: entry.http.port))
    print("greeter \(commandLine.node) on http://\(address)/greeter")
    // A hub context sends from outside the hub: the time, every 10 s, to everyone following "clock".
    let clock = replica.hubContext("GreeterHub")!
    let timer = DispatchSource.makeTimerSource()
    timer.schedule(deadline: .now() + 10, repeating: 10)
    timer.setEventHandler { try? clock.clients.group("clock").send("News", "clock", ["now": "\(Date())"]) }
    timer.resume()
    dispatchMain()
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(2)
}

/// The version of this server and library, as the first log line of a replica and `Server --version`-style
/// reports give it.
public enum SignalRMeshVersion {
    /// `major.minor.patch`; the minor follows the issue the release closes.
    public static let current = "0.12.0"
}

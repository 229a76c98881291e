import Mesh
import NetKit

/// `Server --list-replicas --peers FILE`: the replicas of a peers file, one `id http mesh` line each, in the file's
/// order, after the same checks as at start (so scripts such as start.sh need no JSON parser of their own).
public enum ReplicaListing {
    /// The lines for `config`, each ending in a newline.
    ///
    /// - Throws: a one-line ``UsageError`` for an id a shell script can't take as a word and a file name: empty
    ///   after trimming, or with white space, control characters or `/`.
    public static func render(_ config: MeshConfig) throws(UsageError) -> String {
        var out = ""
        for replica in config.replicas {
            let unfit = replica.id.unicodeScalars.contains {
                $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F || $0 == "/"
            }
            guard !unfit, replica.id != ".", replica.id != ".." else {
                throw UsageError(
                    "peers.json: replica id \(LogText.untrusted(replica.id)) can't be listed (no spaces, control characters or /)")
            }
            out += "\(replica.id) \(replica.http) \(replica.mesh)\n"
        }
        return out
    }

    /// Loads `path` (with `MESH_SECRET` from `environment`, as at start) and renders it.
    public static func render(path: String, environment: [String: String]) throws -> String {
        try render(MeshConfig.load(path: path, environment: environment))
    }
}

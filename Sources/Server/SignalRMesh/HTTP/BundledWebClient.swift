import Foundation

/// Finds the web client that ships with the server (the `Public` folder of the resource bundle SwiftPM puts next
/// to the executable) without trapping when it is missing: SwiftPM's generated `Bundle.module` calls `fatalError`
/// when the bundle isn't where the build left it — e.g. a binary copied to /usr/local/bin on its own.
enum BundledWebClient {
    /// The bundle's folder name, as SwiftPM names it (`<package>_<target>.resources`).
    static let bundleName = "SignalRMesh_SignalRMesh.resources"

    /// The `Public` directory of the first bundle found: beside the main executable (or the test runner), then
    /// beside the executable's real path (an installed symlink). Nil when there is none.
    static func publicDirectory(fileManager: FileManager = .default) -> String? {
        var folders = [Bundle.main.bundleURL.path]
        if let exe = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append((exe as NSString).deletingLastPathComponent)
        }
        for folder in folders {
            let candidate = folder + "/" + bundleName + "/Public"
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate
            }
        }
        return nil
    }

    /// Why there is no web client, for the warning a replica logs at start.
    static let missingText =
        "no web client: the resource folder \(bundleName) is not beside the executable (copy it there, "
        + "or pass --public-dir DIR); pages answer 404, hubs are served"
}

/// The demo secret shipped in the sample peers.json.
///
/// Anyone can read it, so a node whose mesh port is reachable from other machines refuses to start with it.
public enum DemoSecret {
    public static let value = "demo-secret-change-me-0123456789"
}

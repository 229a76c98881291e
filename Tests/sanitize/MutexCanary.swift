// Checks Tests/sanitize/tsan-mutex.c (run by `Tests/sanitize.sh shim-check`; not part of the package).
//
// Two threads take one Synchronization.Mutex 200 000 times each, so it is contended and goes through the
// kernel (the slow paths TSan cannot see). `correct` touches shared memory only under the lock: TSan must stay
// silent with the shim preloaded (without it, this toolchain reports a "Swift access race" inside the
// critical section). `racy` also bumps a counter outside the lock: TSan must still report that race with the
// shim, which shows the shim adds only the lock's own happens-before edges.
import Foundation
import Synchronization

final class Shared: @unchecked Sendable {
    let locked = Mutex<[Int]>([])
    var unguarded = 0
}

let racy = CommandLine.arguments.dropFirst().first == "racy"
let shared = Shared()
let rounds = 200_000
let finished = DispatchSemaphore(value: 0)
for _ in 0..<2 {
    Thread.detachNewThread {
        for i in 0..<rounds {
            if racy { shared.unguarded &+= 1 }
            shared.locked.withLock { list in
                list.append(i)
                if list.count > 64 { list.removeAll(keepingCapacity: true) }
            }
        }
        finished.signal()
    }
}
finished.wait()
finished.wait()
print("canary done (\(racy ? "racy" : "correct"))")

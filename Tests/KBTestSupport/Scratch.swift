import Foundation

/// A fresh path for one test's files (`<prefix>-<UUID>`, not yet created), inside this test
/// process's scratch folder, which is removed when the process exits: the tests used to leave
/// every temporary folder they made behind.
public func scratchDirectory(_ prefix: String) -> String {
    processScratch.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}

private let processScratch: URL = {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("kbert-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    scratchPath = u.path
    atexit { if let p = scratchPath { try? FileManager.default.removeItem(atPath: p) } }
    return u
}()

nonisolated(unsafe) private var scratchPath: String?

import ArgumentParser
import Foundation
import KBTensor

@main
struct KBert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kbert",
        abstract: "KroneckerBERT: run, compress and distill BERT models on CPUs.",
        subcommands: [Tokenize.self, Run.self, Inspect.self, Bench.self, FineTune.self, Evaluate.self, Compress.self, Distill.self, Pipeline.self]
    )

    /// Process-wide policy first (freed step buffers stay in the heap), then the subcommand.
    static func main() {
        Memory.keepFreedPages()
        main(nil)
    }
}

/// A user-facing failure: printed as "Error: <message>" with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Options shared by commands that compute.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and kernels (default: OPENBLAS_NUM_THREADS, else all cores).")
    var threads: Int?

    func apply() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        Threads.configure(threads)
    }
}

/// Reads a UTF-8 text file (or stdin for "-") as lines; an empty line is an empty text.
func readLines(_ path: String) throws -> [String] {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path): no such file") }
        guard let d = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot read") }
        data = d
    }
    guard let text = String(validating: data, as: UTF8.self) else {
        // Find the first bad line for the message.
        var line = 1
        var start = data.startIndex
        for i in data.indices where data[i] == 0x0A {
            if String(validating: data[start..<i], as: UTF8.self) == nil { break }
            line += 1; start = i + 1
        }
        throw CLIError("\(path): line \(line) is not valid UTF-8")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
        $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
    }
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// Splits a line into a text or a TAB-separated pair.
func splitPair(_ line: String) -> (String, String?) {
    guard let tab = line.firstIndex(of: "\t") else { return (line, nil) }
    return (String(line[..<tab]), String(line[line.index(after: tab)...]))
}

/// Atomic text output for the CLI.
enum AtomicWrite {
    static func string(_ s: String, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        try s.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw CLIError("\(path): cannot write (rename failed)") }
    }
}

/// Minimal JSON encoding helpers for machine-readable output.
func jsonArray<T: BinaryInteger>(_ v: [T]) -> String { "[" + v.map { String($0) }.joined(separator: ",") + "]" }

func jsonString(_ s: String) -> String {
    let d = (try? JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])) ?? Data()
    let a = String(decoding: d, as: UTF8.self)
    return String(a.dropFirst().dropLast())
}

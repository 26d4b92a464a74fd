import Foundation
import Testing
import KBTensor
@testable import KBSafeTensors

func fixture(_ name: String) -> String {
    Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
}

/// Builds a raw safetensors file from a header string and a data section.
func rawFile(_ header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> Data {
    var out = Data()
    var n = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(contentsOf: Array(header.utf8))
    out.append(contentsOf: data)
    return out
}

@Suite struct SafeTensorsTests {
    @Test func readsPythonGolden() throws {
        let f = try SafeTensorsFile(path: fixture("golden.safetensors"))
        let g = try SafeTensorsFile(path: fixture("golden_bf16.safetensors"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture("golden.json")))) as! [String: [String: Any]]
        #expect(f.metadata == ["format": "pt"])
        for (name, e) in json {
            let shape = e["shape"] as! [Int], values = (e["values"] as! [NSNumber]).map(\.doubleValue)
            let file = name.hasSuffix("bf16") ? g : f
            if name.hasSuffix("i64") || name.hasSuffix("i32") {
                let t = try file.intTensor(name)
                #expect(t.shape == shape)
                #expect(t.values == values.map { Int64($0) }, "\(name)")
            } else {
                let t = try file.floatTensor(name)
                #expect(t.shape == shape, "\(name)")
                #expect(t.data == values.map { Float($0) }, "\(name)")
            }
        }
    }

    @Test func roundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kb-st-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("x.safetensors").path
        let a = try Tensor(shape: [2, 3], data: [1, -2, 3.5, .pi, 0, -0.25])
        try SafeTensorsWriter.write([
            ("w", .f32(a)), ("ids", .i64(shape: [3], values: [1, -2, 1 << 40])), ("n", .i32(shape: [1, 2], values: [5, 6])),
        ], metadata: ["format": "pt", "q\"uote": "é"], to: path)
        let f = try SafeTensorsFile(path: path)
        #expect(try f.floatTensor("w") == a)
        #expect(try f.intTensor("ids").values == [1, -2, 1 << 40])
        #expect(try f.intTensor("n").shape == [1, 2])
        #expect(f.metadata == ["format": "pt", "q\"uote": "é"])
        #expect(f.names == ["w", "ids", "n"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers == ["x.safetensors"], "no temporary file left behind")
        // The header is 8-byte aligned as in the reference implementation.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8 == 0)
    }

    @Test func writerRejectsDuplicates() {
        let t = Tensor(shape: [1])
        #expect(throws: SafeTensorsError.duplicateName(file: "<writer>", tensor: "a")) {
            _ = try SafeTensorsWriter.serialize([("a", .f32(t)), ("a", .f32(t))])
        }
    }

    @Test func halfConversion() {
        #expect(halfToFloat(0x3C00) == 1)
        #expect(halfToFloat(0xC000) == -2)
        #expect(halfToFloat(0x7BFF) == 65504)
        #expect(halfToFloat(0x0001) == Float(bitPattern: 0x3380_0000))
        #expect(halfToFloat(0x7C00) == .infinity)
        #expect(halfToFloat(0x7E00).isNaN)
    }

    static let eight: [UInt8] = Array(repeating: 0, count: 8)

    @Test func malformedFiles() {
        let p = "bad.safetensors"
        func check(_ d: Data, _ expected: SafeTensorsError, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(throws: expected, sourceLocation: sourceLocation) { _ = try SafeTensorsFile(data: d, path: p) }
        }
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(throws: Never.self) { _ = try SafeTensorsFile(data: rawFile(ok, data: Self.eight), path: p) }
        check(Data([1, 2, 3]), .truncated(file: p, size: 3))
        check(rawFile("{}", lengthOverride: 1000), .headerPastEnd(file: p, headerLength: 1000, fileSize: 10))
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(data: rawFile("{\"a\": "), path: p) }
        do {
            _ = try SafeTensorsFile(data: rawFile("not json"), path: p)
            Issue.record("invalid JSON accepted")
        } catch { #expect({ if case .invalidJSON = error { return true }; return false }()) }
        check(rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#, data: Self.eight),
              .offsetsOutOfRange(file: p, tensor: "a", begin: 0, end: 12, dataSize: 8))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Self.eight),
              .byteCountMismatch(file: p, tensor: "a", expected: 12, actual: 8))
        check(rawFile(#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, data: Self.eight),
              .byteCountMismatch(file: p, tensor: "a", expected: 4, actual: 8))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Self.eight),
              .overlapping(file: p, tensor: "b", other: "a"))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: Self.eight),
              .duplicateName(file: p, tensor: "a"))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: Self.eight),
              .incompleteBuffer(file: p, covered: 4, dataSize: 8))
        check(rawFile(#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,8]}}"#, data: Self.eight),
              .unsupportedDType(file: p, tensor: "a", dtype: "Q4"))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: Self.eight),
              .invalidEntry(file: p, tensor: "a", message: "shape must hold non-negative integers"))
        check(rawFile(#"{"a":{"dtype":"F32","shape":[2]}}"#, data: Self.eight),
              .invalidEntry(file: p, tensor: "a", message: "data_offsets must be [begin, end]"))
    }

    @Test func typedAccessErrors() throws {
        let f = try SafeTensorsFile(path: fixture("golden.safetensors"))
        #expect(throws: SafeTensorsError.missingTensor(file: f.path, tensor: "nope")) { _ = try f.floatTensor("nope") }
        #expect(throws: SafeTensorsError.wrongDType(file: f.path, tensor: "c.i64", dtype: "I64", wanted: "F32, F16, BF16 or F64")) {
            _ = try f.floatTensor("c.i64")
        }
    }

    @Test func missingFileNamesThePath() {
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(path: "/nonexistent/model.safetensors") }
    }
}

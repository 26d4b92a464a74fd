import Foundation
import KBTensor

/// Element types of the safetensors format that this project reads.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// Errors from reading or writing safetensors files. Every case names the file, and the tensor when
/// one is at fault.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
    case io(file: String, message: String)
    case truncated(file: String, size: Int)
    case headerPastEnd(file: String, headerLength: UInt64, fileSize: Int)
    case invalidJSON(file: String, message: String)
    case invalidEntry(file: String, tensor: String, message: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case byteCountMismatch(file: String, tensor: String, expected: Int, actual: Int)
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case overlapping(file: String, tensor: String, other: String)
    case incompleteBuffer(file: String, covered: Int, dataSize: Int)
    case duplicateName(file: String, tensor: String)
    case missingTensor(file: String, tensor: String)
    case wrongDType(file: String, tensor: String, dtype: String, wanted: String)

    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .truncated(f, s): return "\(f): truncated file (\(s) bytes; a safetensors file starts with an 8-byte header length)"
        case let .headerPastEnd(f, h, s): return "\(f): header length \(h) runs past the end of the file (\(s) bytes)"
        case let .invalidJSON(f, m): return "\(f): header is not valid JSON: \(m)"
        case let .invalidEntry(f, t, m): return "\(f): tensor '\(t)': \(m)"
        case let .unsupportedDType(f, t, d): return "\(f): tensor '\(t)': unsupported dtype '\(d)'"
        case let .byteCountMismatch(f, t, e, a): return "\(f): tensor '\(t)': dtype and shape need \(e) bytes, data_offsets span \(a)"
        case let .offsetsOutOfRange(f, t, b, e, s): return "\(f): tensor '\(t)': data_offsets [\(b), \(e)] out of range (data is \(s) bytes)"
        case let .overlapping(f, t, o): return "\(f): tensor '\(t)' overlaps tensor '\(o)'"
        case let .incompleteBuffer(f, c, s): return "\(f): tensors cover \(c) of \(s) data bytes (holes are not allowed)"
        case let .duplicateName(f, t): return "\(f): duplicate tensor name '\(t)'"
        case let .missingTensor(f, t): return "\(f): no tensor named '\(t)'"
        case let .wrongDType(f, t, d, w): return "\(f): tensor '\(t)' has dtype \(d), expected \(w)"
        }
    }
}

/// One tensor's header entry.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let begin: Int, end: Int
}

/// A validated, memory-mapped safetensors file.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data section.
/// Validation happens once, in the initializer: everything later can trust the header.
public struct SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    /// Tensors in file order (by offset).
    public let tensors: [TensorInfo]
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int

    public init(path: String) throws(SafeTensorsError) {
        let d: Data
        do { d = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw .io(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        try self.init(data: d, path: path)
    }

    public init(data d: Data, path: String = "<memory>") throws(SafeTensorsError) {
        self.path = path
        self.data = d
        guard d.count >= 8 else { throw .truncated(file: path, size: d.count) }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(d[d.startIndex + k]) << (8 * UInt64(k)) }
        guard n <= UInt64(d.count - 8) else { throw .headerPastEnd(file: path, headerLength: n, fileSize: d.count) }
        dataStart = 8 + Int(n)
        let headerBytes = [UInt8](d[(d.startIndex + 8)..<(d.startIndex + dataStart)])
        let json: JSON
        do { json = try JSONParser.parse(headerBytes) } catch {
            throw .invalidJSON(file: path, message: "\(error.message) at byte \(error.offset)")
        }
        guard case let .object(items) = json else { throw .invalidJSON(file: path, message: "top level is not an object") }
        let dataSize = d.count - dataStart
        var meta: [String: String] = [:]
        var infos: [TensorInfo] = []
        var seen = Set<String>()
        for (name, entry) in items {
            guard seen.insert(name).inserted else { throw .duplicateName(file: path, tensor: name) }
            if name == "__metadata__" {
                guard case let .object(kv) = entry else { throw .invalidEntry(file: path, tensor: name, message: "metadata is not an object") }
                for (k, v) in kv {
                    guard case let .string(s) = v else { throw .invalidEntry(file: path, tensor: name, message: "metadata value for '\(k)' is not a string") }
                    meta[k] = s
                }
                continue
            }
            infos.append(try Self.parseEntry(name, entry, path: path, dataSize: dataSize))
        }
        infos.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for (k, t) in infos.enumerated() {
            if k > 0, t.begin < infos[k - 1].end { throw .overlapping(file: path, tensor: t.name, other: infos[k - 1].name) }
            covered += t.end - t.begin
        }
        guard covered == dataSize else { throw .incompleteBuffer(file: path, covered: covered, dataSize: dataSize) }
        metadata = meta
        tensors = infos
        var idx: [String: Int] = [:]
        for (k, t) in infos.enumerated() { idx[t.name] = k }
        index = idx
    }

    private static func parseEntry(_ name: String, _ entry: JSON, path: String, dataSize: Int) throws(SafeTensorsError) -> TensorInfo {
        guard case let .object(fields) = entry else { throw .invalidEntry(file: path, tensor: name, message: "entry is not an object") }
        var dtypeS: String?, shape: [Int]?, offs: [Int]?
        func ints(_ j: JSON, _ what: String) throws(SafeTensorsError) -> [Int] {
            guard case let .array(a) = j else { throw .invalidEntry(file: path, tensor: name, message: "\(what) is not an array") }
            var out: [Int] = []
            for v in a {
                guard case let .number(x) = v, x >= 0, x == x.rounded(), x < 9e15 else {
                    throw .invalidEntry(file: path, tensor: name, message: "\(what) must hold non-negative integers")
                }
                out.append(Int(x))
            }
            return out
        }
        for (k, v) in fields {
            switch k {
            case "dtype":
                guard case let .string(s) = v else { throw .invalidEntry(file: path, tensor: name, message: "dtype is not a string") }
                dtypeS = s
            case "shape": shape = try ints(v, "shape")
            case "data_offsets": offs = try ints(v, "data_offsets")
            default: throw .invalidEntry(file: path, tensor: name, message: "unknown field '\(k)'")
            }
        }
        guard let ds = dtypeS else { throw .invalidEntry(file: path, tensor: name, message: "missing dtype") }
        guard let dt = DType(rawValue: ds) else { throw .unsupportedDType(file: path, tensor: name, dtype: ds) }
        guard let sh = shape else { throw .invalidEntry(file: path, tensor: name, message: "missing shape") }
        guard let o = offs, o.count == 2 else { throw .invalidEntry(file: path, tensor: name, message: "data_offsets must be [begin, end]") }
        guard o[0] <= o[1], o[1] <= dataSize else {
            throw .offsetsOutOfRange(file: path, tensor: name, begin: o[0], end: o[1], dataSize: dataSize)
        }
        var elems = 1
        for s in sh {
            let (p, overflow) = elems.multipliedReportingOverflow(by: s)
            guard !overflow else { throw .invalidEntry(file: path, tensor: name, message: "shape \(sh) overflows") }
            elems = p
        }
        let (bytes, overflow) = elems.multipliedReportingOverflow(by: dt.byteSize)
        guard !overflow, bytes == o[1] - o[0] else {
            throw .byteCountMismatch(file: path, tensor: name, expected: overflow ? Int.max : bytes, actual: o[1] - o[0])
        }
        return TensorInfo(name: name, dtype: dt, shape: sh, begin: o[0], end: o[1])
    }

    /// Tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    public func info(_ name: String) throws(SafeTensorsError) -> TensorInfo {
        guard let k = index[name] else { throw .missingTensor(file: path, tensor: name) }
        return tensors[k]
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    private func raw<T>(_ t: TensorInfo, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        data.withUnsafeBytes { all in
            body(UnsafeRawBufferPointer(rebasing: all[(dataStart + t.begin)..<(dataStart + t.end)]))
        }
    }

    /// Reads a floating-point tensor as Float32 (F32 as is; F16, BF16 and F64 converted).
    public func floatTensor(_ name: String) throws(SafeTensorsError) -> Tensor {
        let t = try info(name)
        let n = t.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        switch t.dtype {
        case .f32:
            raw(t) { r in out.withUnsafeMutableBytes { $0.copyMemory(from: r) } }
        case .f16:
            raw(t) { r in for i in 0..<n { out[i] = halfToFloat(r.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) } }
        case .bf16:
            raw(t) { r in for i in 0..<n { out[i] = Float(bitPattern: UInt32(r.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) } }
        case .f64:
            raw(t) { r in for i in 0..<n { out[i] = Float(r.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) } }
        default:
            throw .wrongDType(file: path, tensor: name, dtype: t.dtype.rawValue, wanted: "F32, F16, BF16 or F64")
        }
        do { return try Tensor(shape: t.shape, data: out) } catch {
            throw .invalidEntry(file: path, tensor: name, message: "\(error)")
        }
    }

    /// Reads an integer tensor (I64, I32, I16, I8, U8 or BOOL) as Int64 values.
    public func intTensor(_ name: String) throws(SafeTensorsError) -> (shape: [Int], values: [Int64]) {
        let t = try info(name)
        let n = t.shape.reduce(1, *)
        var out = [Int64](repeating: 0, count: n)
        switch t.dtype {
        case .i64: raw(t) { r in for i in 0..<n { out[i] = r.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self) } }
        case .i32: raw(t) { r in for i in 0..<n { out[i] = Int64(r.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) } }
        case .i16: raw(t) { r in for i in 0..<n { out[i] = Int64(r.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) } }
        case .i8: raw(t) { r in for i in 0..<n { out[i] = Int64(r.load(fromByteOffset: i, as: Int8.self)) } }
        case .u8, .bool: raw(t) { r in for i in 0..<n { out[i] = Int64(r[i]) } }
        default:
            throw .wrongDType(file: path, tensor: name, dtype: t.dtype.rawValue, wanted: "an integer type")
        }
        return (t.shape, out)
    }
}

/// IEEE half → single conversion (handles subnormals, infinities and NaN).
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exp = UInt32((h >> 10) & 0x1F)
    let man = UInt32(h & 0x3FF)
    if exp == 0 {
        if man == 0 { return Float(bitPattern: sign) }
        let v = Float(man) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13))
}

import Foundation
import KBTensor

/// A tensor to be written: Float32 data, or integers stored as I64 / I32.
public enum TensorPayload: Sendable {
    case f32(Tensor)
    case i64(shape: [Int], values: [Int64])
    case i32(shape: [Int], values: [Int32])

    var dtype: DType {
        switch self { case .f32: return .f32; case .i64: return .i64; case .i32: return .i32 }
    }
    var shape: [Int] {
        switch self { case let .f32(t): return t.shape; case let .i64(s, _): return s; case let .i32(s, _): return s }
    }
    func appendBytes(to out: inout Data) {
        switch self {
        case let .f32(t): t.data.withUnsafeBytes { out.append(contentsOf: $0) }
        case let .i64(_, v): v.withUnsafeBytes { out.append(contentsOf: $0) }
        case let .i32(_, v): v.withUnsafeBytes { out.append(contentsOf: $0) }
        }
    }
}

public enum SafeTensorsWriter {
    /// Serializes tensors (in the given order) with optional string metadata.
    /// The header is padded with spaces to a multiple of 8 bytes, as the reference implementation does.
    public static func serialize(_ tensors: [(String, TensorPayload)], metadata: [String: String] = [:]) throws(SafeTensorsError) -> Data {
        var items: [(String, JSON)] = []
        if !metadata.isEmpty {
            items.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var seen = Set<String>()
        var offset = 0
        for (name, p) in tensors {
            guard seen.insert(name).inserted else { throw .duplicateName(file: "<writer>", tensor: name) }
            let bytes = p.shape.reduce(1, *) * p.dtype.byteSize
            items.append((name, .object([
                ("dtype", .string(p.dtype.rawValue)),
                ("shape", .array(p.shape.map { .number(Double($0)) })),
                ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))])),
            ])))
            offset += bytes
        }
        var header = Array(JSON.object(items).serialized.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, p) in tensors { p.appendBytes(to: &out) }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, then a rename over `path`.
    public static func write(_ tensors: [(String, TensorPayload)], metadata: [String: String] = [:], to path: String) throws(SafeTensorsError) {
        let data = try serialize(tensors, metadata: metadata)
        try AtomicFile.write(data, to: path)
    }
}

/// Atomic file replacement: write `path.tmp-PID`, fsync, rename. A reader never sees a partial file,
/// and a crash leaves the previous version in place.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(SafeTensorsError) {
        let tmp = path + ".tmp-\(getpid())"
        let ok = FileManager.default.createFile(atPath: tmp, contents: nil)
        guard ok, let h = FileHandle(forWritingAtPath: tmp) else {
            throw .io(file: path, message: "cannot create temporary file \(tmp)")
        }
        do {
            try h.write(contentsOf: data)
            try h.synchronize()
            try h.close()
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw .io(file: path, message: "write failed: \(error.localizedDescription)")
        }
        guard rename(tmp, path) == 0 else {
            let e = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: tmp)
            throw .io(file: path, message: "rename failed: \(e)")
        }
    }
}

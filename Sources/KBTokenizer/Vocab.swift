/// WordPiece vocabulary with exact, byte-wise lookups.
///
/// Swift `String` equality is canonical equivalence ("é" precomposed equals "e" + U+0301), which is
/// wrong for a vocabulary: Hugging Face compares code points. Lookups here hash and compare UTF-8
/// bytes (FNV-1a, open addressing), which is both exact and fast.
public struct Vocab: Sendable {
    /// Token strings by id.
    public let tokens: [String]
    private let table: ByteTable
    /// Pieces that start with the continuation prefix, stored without it.
    private let continuation: ByteTable
    public let continuationPrefix: String

    public init(tokens: [String], continuationPrefix: String = "##") {
        self.tokens = tokens
        self.continuationPrefix = continuationPrefix
        var main: [([UInt8], Int32)] = []
        var cont: [([UInt8], Int32)] = []
        let prefix = Array(continuationPrefix.utf8)
        // A repeated line keeps its last index, as in both HF loaders (a map filled in order).
        for (i, t) in tokens.enumerated() {
            let b = Array(t.utf8)
            main.append((b, Int32(i)))
            if !prefix.isEmpty, b.count >= prefix.count, Array(b[0..<prefix.count]) == prefix {
                cont.append((Array(b[prefix.count...]), Int32(i)))
            }
        }
        table = ByteTable(main)
        continuation = ByteTable(cont)
    }

    public var count: Int { tokens.count }

    /// Id of an exact token string.
    public func id(_ token: String) -> Int32? {
        var t = token
        return t.withUTF8 { table.lookup($0) }
    }

    func lookup(_ bytes: UnsafeBufferPointer<UInt8>, continuing: Bool) -> Int32? {
        continuing ? continuation.lookup(bytes) : table.lookup(bytes)
    }
}

/// Open-addressing hash table from byte strings to ids.
struct ByteTable: Sendable {
    let pool: [UInt8]
    let slots: [Slot]
    let mask: Int

    struct Slot: Sendable {
        var hash: UInt64 = 0
        var offset: Int32 = 0
        var length: Int32 = 0
        var id: Int32 = -1
    }

    init(_ entries: [([UInt8], Int32)]) {
        var cap = 16
        while cap < entries.count * 2 { cap <<= 1 }
        var slots = [Slot](repeating: Slot(), count: cap)
        var pool: [UInt8] = []
        let mask = cap - 1
        for (bytes, id) in entries {
            let h = bytes.withUnsafeBufferPointer { ByteTable.hash($0) }
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i].id >= 0 {
                let s = slots[i]
                if s.hash == h, Array(pool[Int(s.offset)..<Int(s.offset + s.length)]) == bytes {
                    break  // duplicate string: the later id wins, as in HF's loaders
                }
                i = (i + 1) & mask
            }
            if slots[i].id >= 0 {
                slots[i].id = id
            } else {
                slots[i] = Slot(hash: h, offset: Int32(pool.count), length: Int32(bytes.count), id: id)
                pool.append(contentsOf: bytes)
            }
        }
        self.pool = pool
        self.slots = slots
        self.mask = mask
    }

    @inline(__always)
    static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }

    func lookup(_ b: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = ByteTable.hash(b)
        var i = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sp in
            pool.withUnsafeBufferPointer { pp in
                while true {
                    let s = sp[i]
                    if s.id < 0 { return nil }
                    if s.hash == h, Int(s.length) == b.count,
                       memcmpEqual(pp.baseAddress! + Int(s.offset), b.baseAddress, b.count) {
                        return s.id
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ n: Int) -> Bool {
    guard let b else { return n == 0 }
    for k in 0..<n where a[k] != b[k] { return false }
    return true
}

import Foundation
import Synchronization

/// Options of Hugging Face's `BertNormalizer` (tokenizer.json) / `BasicTokenizer` (tokenizer_config.json).
public struct NormalizerOptions: Sendable, Equatable {
    public var cleanText = true
    public var handleChineseChars = true
    /// `nil` follows `lowercase`, as in HF.
    public var stripAccents: Bool? = nil
    public var lowercase = true

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    var effectiveStripAccents: Bool { stripAccents ?? lowercase }
}

/// Character classes, exactly as the `tokenizers` library defines them for BERT.
public enum BertChar {
    /// Removed by clean-text: NUL, U+FFFD and "other" characters (Cc, Cf, Co, Cs) except \t \n \r.
    /// Unassigned code points (Cn) are kept, as in `tokenizers`.
    public static func isControl(_ c: UInt32) -> Bool {
        if c == 9 || c == 10 || c == 13 { return false }
        if c < 0x80 { return c < 0x20 || c == 0x7F }
        guard let s = Unicode.Scalar(c) else { return true }
        switch hfCategory(s) {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// Whitespace: \t \n \r and the Unicode White_Space property.
    public static func isWhitespace(_ c: UInt32) -> Bool {
        if c < 0x80 { return c == 0x20 || (c >= 9 && c <= 13) }
        guard let s = Unicode.Scalar(c) else { return false }
        return s.properties.isWhitespace
    }

    /// ASCII punctuation (every non-alphanumeric printable ASCII character) or Unicode P*.
    public static func isPunctuation(_ c: UInt32) -> Bool {
        if c < 0x80 {
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)
        }
        guard let s = Unicode.Scalar(c) else { return false }
        switch hfCategory(s) {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The Unicode version of the category tables that `tokenizers` uses (its `unicode_categories`
    /// dependency): code points assigned after it are "unassigned" there, so they are neither
    /// punctuation, nor control, nor combining marks to strip.
    public static let categoryTablesVersion = (major: 8, minor: 0)

    /// General categories that changed after that version, as `tokenizers` still sees them.
    static let legacyCategories: [UInt32: Unicode.GeneralCategory] = [
        0x166D: .otherPunctuation,   // CANADIAN SYLLABICS CHI SIGN (So since Unicode 12)
        0x1734: .nonspacingMark,     // HANUNOO SIGN PAMUDPOD (Mc since Unicode 14)
        0x1885: .otherLetter, 0x1886: .otherLetter,  // MONGOLIAN LETTER ALI GALI BALUDA (Mn since 9)
        0xA9BD: .spacingMark,        // JAVANESE CONSONANT SIGN KERET (Mn since 12)
        0x111C9: .otherPunctuation,  // SHARADA SANDHI MARK (Mn since 9)
        0x1171E: .nonspacingMark,    // AHOM CONSONANT SIGN MEDIAL RA (Mc since 14)
    ]

    /// The general category of `s` in the tables `tokenizers` uses.
    public static func hfCategory(_ s: Unicode.Scalar) -> Unicode.GeneralCategory {
        let p = s.properties
        guard let age = p.age else { return .unassigned }
        if (age.major, age.minor) > categoryTablesVersion { return .unassigned }
        if let legacy = legacyCategories[s.value] { return legacy }
        return p.generalCategory
    }

    /// CJK Unified Ideographs blocks that BERT pads with spaces (the `tokenizers` ranges).
    public static func isChinese(_ c: UInt32) -> Bool {
        (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
            || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
            || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F)
    }
}

/// What the normalizer does to one code point, given the options.
enum ScalarAction: Sendable, Equatable {
    case keep
    case drop
    case space
    case chinese([UInt32])   // padded with spaces; the scalars after accent stripping / lowercasing
    case map([UInt32])
}

/// Per-code-point normalization (clean text, CJK spacing, NFD + drop Mn, lowercase), cached for
/// non-ASCII code points. HF's BertNormalizer is a per-character map except for NFD's canonical
/// reordering of combining marks, which only reorders marks that accent stripping removes.
final class ScalarNormalizer: Sendable {
    let options: NormalizerOptions
    let ascii: [ScalarAction]
    private let cache = Mutex<[UInt32: ScalarAction]>([:])

    init(_ options: NormalizerOptions) {
        self.options = options
        var a: [ScalarAction] = []
        for c in UInt32(0)..<128 { a.append(ScalarNormalizer.compute(c, options)) }
        ascii = a
    }

    func action(_ c: UInt32) -> ScalarAction {
        if c < 128 { return ascii[Int(c)] }
        if let a = cache.withLock({ $0[c] }) { return a }
        let a = ScalarNormalizer.compute(c, options)
        cache.withLock { $0[c] = a }
        return a
    }

    static func compute(_ c: UInt32, _ o: NormalizerOptions) -> ScalarAction {
        if o.cleanText {
            if c == 0 || c == 0xFFFD || BertChar.isControl(c) { return .drop }
            if BertChar.isWhitespace(c) { return c == 0x20 ? .keep : .space }
        }
        guard let s = Unicode.Scalar(c) else { return .drop }
        var out: [Unicode.Scalar] = [s]
        if o.effectiveStripAccents {
            out = decompose(s).filter { BertChar.hfCategory($0) != .nonspacingMark }
        }
        if o.lowercase {
            out = out.flatMap { Array($0.properties.lowercaseMapping.unicodeScalars) }
        }
        let v = out.map(\.value)
        if o.handleChineseChars && BertChar.isChinese(c) { return .chinese(v) }
        if v == [c] { return .keep }
        if v.isEmpty { return .drop }
        return .map(v)
    }

    /// Canonical decomposition (NFD) of one scalar.
    /// Scalars newer than the normalization tables of `tokenizers` do not decompose there.
    static func decompose(_ s: Unicode.Scalar) -> [Unicode.Scalar] {
        if s.value < 0xC0 { return [s] }
        if let age = s.properties.age, (age.major, age.minor) > BertChar.categoryTablesVersion { return [s] }
        let str = String(Character(s)).decomposedStringWithCanonicalMapping
        return Array(str.unicodeScalars)
    }
}

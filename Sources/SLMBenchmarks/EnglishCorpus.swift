import Foundation
import SLMModel

/// Real English text for training benchmarks, the corpus the PyTorch reference scripts
/// (`common.py`'s `build_corpus`) train on, so both tools see the same tokens:
///
/// - /usr/share/common-licenses/GPL-3 first, then the other licence files by name (no symlinks);
/// - then every README*, *.md and *.txt file (not *.gz) under /usr/share/doc in path order,
///   walking into symlinked folders and skipping hidden names as Python's `glob("**/*", recursive=True)`;
/// - each read as strict UTF-8 with universal newlines (\r\n and \r become \n), skipped when blank
///   or when less than 60% of its characters are letters or whitespace;
/// - files taken until the next would pass 1,500,000 characters, joined with blank lines.
///
/// The files a machine has decide the text, so figures compare tools on one machine only.
public enum EnglishCorpus {
    static let licences = "/usr/share/common-licenses"
    static let docs = "/usr/share/doc"
    static let maxCharacters = 1_500_000

    /// The corpus as one text.
    public static func text() -> String {
        var parts: [String] = []
        var total = 0
        for path in files() {
            guard let bytes = FileManager.default.contents(atPath: path),
                  let raw = String(validating: bytes, as: UTF8.self)
            else { continue }
            let text = universalNewlines(raw)
            let scalars = text.unicodeScalars
            guard scalars.contains(where: { !isPythonSpace($0) }) else { continue }
            let prose = scalars.count(where: { isPythonAlpha($0) || isPythonSpace($0) })
            guard Double(prose) / Double(scalars.count) >= 0.6 else { continue }
            if total + scalars.count > maxCharacters { break }
            parts.append(text)
            total += scalars.count
        }
        return parts.joined(separator: "\n\n")
    }

    /// The corpus's token ids (no special tokens added).
    public static func tokens(_ tokenizer: BPETokenizer) -> [Int32] { tokenizer.encode(text()) }

    /// The candidate files in the order they are read.
    static func files() -> [String] {
        let gpl3 = licences + "/GPL-3"
        let otherLicences = ((try? FileManager.default.contentsOfDirectory(atPath: licences)) ?? [])
            .sorted(by: codePointOrder)
            .map { licences + "/" + $0 }
            .filter { $0 != gpl3 && isRegularFile($0) }
        let documents = walk(docs).sorted(by: codePointOrder).filter { path in
            let name = (path as NSString).lastPathComponent
            let wanted = name.hasPrefix("README") || name.hasSuffix(".md") || name.hasSuffix(".txt")
            return wanted && !name.hasSuffix(".gz") && isRegularFile(path)
        }
        return [gpl3] + otherLicences + documents
    }

    /// Every path below `folder`, following symlinked folders, without hidden names.
    static func walk(_ folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { !$0.hasPrefix(".") }.flatMap { name -> [String] in
            let path = folder + "/" + name
            var isFolder: ObjCBool = false
            let below = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue ? walk(path) : []
            return [path] + below
        }
    }

    /// A regular file that is not itself a symlink (Python's `not islink(p) and isfile(p)`).
    static func isRegularFile(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
    }

    /// Python's string order: by Unicode code points.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    static func universalNewlines(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var afterCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" && afterCR { afterCR = false; continue }
            afterCR = scalar == "\r"
            out.append(afterCR ? "\n" : scalar)
        }
        return String(out)
    }

    /// Python's `str.isalpha`: general categories Lu, Ll, Lt, Lm, Lo.
    static func isPythonAlpha(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    /// Python's `str.isspace`: Unicode White_Space plus the separators U+001C–U+001F.
    static func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }
}

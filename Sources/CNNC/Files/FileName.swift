import Foundation

/// File names as the system gives them: bytes, which cnnc takes only when it can show and list
/// them faithfully (UTF-8, one per line).
public enum FileName {
  /// `bytes` as a name, or why cnnc refuses it: not UTF-8 (a decoded string would name another
  /// file), or holding a line break (`.classes.txt` and `.files.txt` list one name per line).
  public static func decode(_ bytes: [UInt8]) -> Result<String, Refusal> {
    guard let name = String(validating: bytes, as: UTF8.self) else {
      return .failure(Refusal("is not UTF-8 (\(shown(bytes)))"))
    }
    guard !bytes.contains(UInt8(ascii: "\n")), !bytes.contains(UInt8(ascii: "\r")) else {
      return .failure(Refusal("holds a line break (\(shown(bytes)))"))
    }
    return .success(name)
  }

  public struct Refusal: Error {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
  }

  /// A directory entry's name. Read through a pointer up to its NUL: an entry is only as long
  /// as its name needs, so loading `d_name` (a 256-byte field) would read past it.
  public static func bytes(of entry: UnsafeMutablePointer<dirent>) -> [UInt8] {
    let name = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    let characters = name.assumingMemoryBound(to: CChar.self)
    return Array(UnsafeRawBufferPointer(start: name, count: strlen(characters)))
  }

  /// The bytes with printable ASCII as itself and every other byte as `\xNN`.
  public static func shown(_ bytes: [UInt8]) -> String {
    var text = "\""
    for byte in bytes {
      if (0x20..<0x7F).contains(byte) && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "\"") {
        text.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
      }
    }
    return text + "\""
  }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    String(repeating: "0", count: max(0, width - count)) + self
  }
}

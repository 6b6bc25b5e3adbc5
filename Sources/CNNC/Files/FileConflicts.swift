import Foundation

/// The files one command reads and writes, checked before any work starts: an output that is
/// one of the inputs, or two outputs that are one file, are refused with both names.
///
/// "The same file" is decided as the kernel sees it, not by spelling: an existing path by its
/// device and inode (so a symbolic or hard link to an input counts), a path not yet there by its
/// folder's real path and its name.
public struct FileConflicts {
  /// A path and what it is to the command ("the spec", "--out").
  public typealias Role = (what: String, path: String)

  public var inputs: [Role] = []
  public var outputs: [Role] = []

  public init(inputs: [Role] = [], outputs: [Role] = []) {
    self.inputs = inputs
    self.outputs = outputs
  }

  public func check() throws(CheckpointError) {
    let read = inputs.map { ($0, Identity($0.path)) }
    var written: [(Role, Identity?)] = []
    for output in outputs {
      let identity = Identity(output.path)
      if let identity {
        if let (input, _) = read.first(where: { $0.1 == identity }) {
          throw CheckpointError(
            file: output.path,
            problem: "\(output.what) is \(input.what) \(input.path)\(alias(output, input)): cnnc "
              + "never writes over a file it reads; choose another path")
        }
        if let (other, _) = written.first(where: { $0.1 == identity }) {
          throw CheckpointError(
            file: output.path,
            problem: "\(output.what) and \(other.what) \(other.path) are one file\(alias(output, other)); "
              + "choose different paths")
        }
      }
      written.append((output, identity))
    }
  }

  /// Whether two paths name one file (see the type's comment for how).
  public static func sameFile(_ a: String, _ b: String) -> Bool {
    guard let first = Identity(a) else { return false }
    return first == Identity(b)
  }

  private func alias(_ a: Role, _ b: Role) -> String {
    a.path == b.path ? "" : " (the same file)"
  }

  /// Device and inode of an existing file (links followed), or the real path of a file yet to be
  /// created; nil when neither can be found (the command reports the path when it opens it).
  enum Identity: Equatable {
    case inode(dev_t, ino_t)
    case path(String)

    init?(_ path: String) {
      var status = stat()
      if stat(path, &status) == 0 {
        self = .inode(status.st_dev, status.st_ino)
        return
      }
      let url = URL(fileURLWithPath: path)
      let folder = url.deletingLastPathComponent().path
      guard let real = realpath(folder, nil) else { return nil }
      defer { free(real) }
      self = .path(String(cString: real) + "/" + url.lastPathComponent)
    }
  }
}

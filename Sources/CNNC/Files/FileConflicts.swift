import Foundation

/// The files one command reads and writes, checked before any work starts: an output that is
/// one of the inputs, or two outputs that are one file, are refused with both names.
///
/// "The same file" is decided as the kernel sees it, not by spelling: an existing path by its
/// device and inode (so a symbolic or hard link to an input counts), a path not yet there by its
/// folder's real path and its name. An input that is a folder (of images) protects every file
/// under it.
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
    let read = inputs.map { ($0, Location($0.path)) }
    var written: [(Role, Location?)] = []
    for output in outputs {
      let location = Location(output.path)
      if let location {
        for (input, place) in read {
          guard let place else { continue }
          if place.isSameFile(as: location) {
            throw CheckpointError(
              file: output.path,
              problem: "\(output.what) is \(input.what) \(input.path)\(alias(output, input)): "
                + "cnnc never writes over a file it reads; choose another path")
          }
          if place.contains(location) {
            throw CheckpointError(
              file: output.path,
              problem: "\(output.what) lies inside \(input.what) \(input.path), a folder cnnc "
                + "reads: cnnc never writes among its inputs; choose another path")
          }
        }
        if let (other, _) = written.first(where: { $0.1?.isSameFile(as: location) == true }) {
          throw CheckpointError(
            file: output.path,
            problem: "\(output.what) and \(other.what) \(other.path) are one file; choose "
              + "different paths")
        }
      }
      written.append((output, location))
    }
  }

  /// Whether two paths name one file (see the type's comment for how).
  public static func sameFile(_ a: String, _ b: String) -> Bool {
    guard let first = Location(a), let second = Location(b) else { return false }
    return first.isSameFile(as: second)
  }

  private func alias(_ a: Role, _ b: Role) -> String {
    a.path == b.path ? "" : " (the same file)"
  }

  /// Where a path leads: the device and inode of an existing file (links followed) and its real
  /// path, or for a file yet to be created its folder's real path and its name; nil when neither
  /// can be found (the command reports the path when it opens it).
  struct Location {
    var inode: (dev_t, ino_t)?
    var realPath: String
    var isFolder = false

    init?(_ path: String) {
      var status = stat()
      if stat(path, &status) == 0, let real = Self.realPath(path) {
        inode = (status.st_dev, status.st_ino)
        realPath = real
        isFolder = status.st_mode & S_IFMT == S_IFDIR
        return
      }
      let url = URL(fileURLWithPath: path)
      guard let folder = Self.realPath(url.deletingLastPathComponent().path) else { return nil }
      realPath = (folder == "/" ? "" : folder) + "/" + url.lastPathComponent
    }

    func isSameFile(as other: Location) -> Bool {
      if let inode, let otherInode = other.inode {
        return inode == otherInode
      }
      return realPath == other.realPath
    }

    /// Whether `other` lies somewhere under this folder.
    func contains(_ other: Location) -> Bool {
      isFolder && other.realPath.hasPrefix(realPath == "/" ? "/" : realPath + "/")
    }

    private static func realPath(_ path: String) -> String? {
      guard let real = realpath(path, nil) else { return nil }
      defer { free(real) }
      return String(cString: real)
    }
  }
}

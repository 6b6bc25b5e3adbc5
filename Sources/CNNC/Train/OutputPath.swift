import Foundation

/// Where cnnc may write a file it produces (checkpoint, resume state, outputs).
///
/// Files are written to a temporary file and renamed over the path, which would silently turn a
/// device node, a FIFO, a symbolic link or a socket into a regular file. So a path is accepted
/// only when nothing is there yet or a regular file is, in an existing, writable folder.
public enum OutputPath {
  public static func check(_ path: String) throws(CheckpointError) {
    var status = stat()
    if lstat(path, &status) == 0 {
      let kind = status.st_mode & S_IFMT
      guard kind == S_IFREG else {
        throw CheckpointError(
          file: path,
          problem: "is \(describe(kind)); cnnc writes only to a new path or a regular file")
      }
    } else if errno != ENOENT {
      throw CheckpointError(
        file: path, problem: "cannot be examined: \(String(cString: strerror(errno)))")
    }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder),
      isFolder.boolValue
    else {
      throw CheckpointError(file: path, problem: "the folder \(folder) does not exist")
    }
    guard access(folder, W_OK) == 0 else {
      throw CheckpointError(file: path, problem: "the folder \(folder) is not writable")
    }
  }

  private static func describe(_ kind: mode_t) -> String {
    switch kind {
    case S_IFDIR: return "a directory"
    case S_IFLNK: return "a symbolic link"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFIFO: return "a FIFO"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
  }
}

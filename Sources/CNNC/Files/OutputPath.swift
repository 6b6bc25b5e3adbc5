import Foundation

/// Where cnnc may write a file it produces (checkpoint, resume state, outputs).
///
/// Files are written to a temporary file and renamed over the path, which would silently turn a
/// device node, a FIFO, a symbolic link or a socket into a regular file. So a path is accepted
/// only when nothing is there yet or a regular file is, in an existing, writable folder; and an
/// existing file only when it is writable (a file its owner made read-only is not cnnc's to
/// replace, even for root) and its replacement can keep its owner and group. Commands check
/// every output with this before any work, so that a bad path costs nothing.
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
      guard status.st_mode & S_IWUSR != 0, access(path, W_OK) == 0 else {
        throw CheckpointError(
          file: path,
          problem: "is read-only (mode \(String(status.st_mode & 0o777, radix: 8))); cnnc "
            + "replaces only a file it may write: make it writable or choose another path")
      }
      guard canGive(owner: status.st_uid, group: status.st_gid) else {
        throw CheckpointError(
          file: path,
          problem: "belongs to user \(status.st_uid), group \(status.st_gid), and a replacement "
            + "written by this user cannot keep that owner (choose another path)")
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

  /// Whether this process may make a file it creates belong to `owner` and `group` (root may;
  /// others only to themselves and a group they are in).
  private static func canGive(owner: uid_t, group: gid_t) -> Bool {
    let user = geteuid()
    if user == 0 { return true }
    guard owner == user else { return false }
    if group == getegid() { return true }
    let count = getgroups(0, nil)
    guard count > 0 else { return false }
    var groups = [gid_t](repeating: 0, count: Int(count))
    let filled = getgroups(Int32(groups.count), &groups)
    return filled > 0 && groups.prefix(Int(filled)).contains(group)
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

/// An exclusive advisory lock (`flock`) on a checkpoint path for a whole training run, so that
/// two runs never write the same checkpoint; held until this value is released. The lock file
/// is `.<name>.lock` beside the checkpoint and names the holder's pid.
public final class CheckpointLock {
  public let path: String
  private let descriptor: Int32

  /// The lock file of `checkpoint`: `.<name>.lock` beside it.
  public static func path(for checkpoint: String) -> String {
    let url = URL(fileURLWithPath: checkpoint)
    return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).lock")
      .path
  }

  public init(checkpoint: String) throws(CheckpointError) {
    path = Self.path(for: checkpoint)
    // Never through a link planted at the lock's name: the pid written below would land in the
    // link's target.
    descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw CheckpointError(
        file: checkpoint,
        problem: "cannot create its lock file \(path): \(String(cString: strerror(errno)))")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      close(descriptor)
      throw CheckpointError(
        file: checkpoint, problem: "its lock file \(path) is not a regular file")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      var holder = [UInt8](repeating: 0, count: 32)
      let count = pread(descriptor, &holder, holder.count, 0)
      close(descriptor)
      let pid = count > 0 ? Int(String(decoding: holder[0..<count], as: UTF8.self)) : nil
      throw CheckpointError(
        file: checkpoint,
        problem: "another training run\(pid.map { " (pid \($0))" } ?? "") is writing this "
          + "checkpoint; wait for it to finish or choose another --out")
    }
    let pid = Array(String(getpid()).utf8)
    _ = ftruncate(descriptor, 0)
    _ = pwrite(descriptor, pid, pid.count, 0)
  }

  deinit {
    close(descriptor)  // releases the lock
  }

  /// Removes the temporary files an earlier run left beside `checkpoint` and its resume state
  /// when it was killed while saving, by `OutputFile`'s rule: only those whose writer is gone.
  public func removeStaleTemporaries(of checkpoint: String) {
    let url = URL(fileURLWithPath: checkpoint)
    let folder = url.deletingLastPathComponent().path
    for name in [url.lastPathComponent, url.lastPathComponent + ".resume"] {
      OutputFile.removeStaleTemporaries(folder: folder, name: name)
    }
  }
}

/// Test hook: with `CNNC_FAULT_AT=<point>` in the environment, the process kills itself with
/// SIGKILL at that point of a save (no cleanup, no handler can intervene, as with a real kill),
/// so tests can prove every instant recoverable.
/// Points: `resume-written`, `resume-renamed`, `checkpoint-written`, `checkpoint-renamed`.
enum FaultInjection {
  static func point(_ name: String) {
    guard let value = getenv("CNNC_FAULT_AT"), String(cString: value) == name else { return }
    kill(getpid(), SIGKILL)
  }
}

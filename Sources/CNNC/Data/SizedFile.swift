import Foundation

/// A regular file opened for reading whose size is known before any of it is read, so that
/// readers can check a header against the size and read a body whose length they already know.
/// Bytes are read straight into the array that is returned: the file is held once, not twice.
final class SizedFile {
  /// Why a file could not be opened or read, as a message ends: "the file does not exist".
  struct Failure: Error {
    var reason: String
  }

  let size: Int
  private let descriptor: Int32

  init(_ path: String) throws(Failure) {
    // Non-blocking, so that opening a FIFO with no writer does not hang; it is refused below.
    descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else {
      throw Failure(reason: errno == ENOENT ? "the file does not exist" : Self.reason(errno))
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
      let failure = Failure(reason: Self.reason(errno))
      close(descriptor)
      throw failure
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      close(descriptor)
      throw Failure(
        reason: status.st_mode & S_IFMT == S_IFDIR
          ? "the file is a directory" : "the file is not a regular file (a device, FIFO or socket)")
    }
    size = Int(status.st_size)
  }

  deinit { close(descriptor) }

  /// Up to `count` bytes from the current position (fewer at the end of the file).
  func read(_ count: Int) throws(Failure) -> [UInt8] {
    let wanted = max(0, min(count, size))
    // Array(unsafeUninitializedCapacity: 0) stores its count into the process-wide empty-array
    // storage, which every thread's empty arrays read: a data race ThreadSanitizer reports.
    guard wanted > 0 else { return [] }
    var failure: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
      initialized = 0
      while initialized < wanted {
        let got = Foundation.read(
          descriptor, buffer.baseAddress! + initialized, wanted - initialized)
        if got > 0 {
          initialized += got
        } else if got == 0 {
          break
        } else if errno != EINTR {
          failure = errno
          break
        }
      }
    }
    if failure != 0 { throw Failure(reason: Self.reason(failure)) }
    return bytes
  }

  /// Moves back to the first byte.
  func rewind() throws(Failure) {
    guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw Failure(reason: Self.reason(errno)) }
  }

  private static func reason(_ code: Int32) -> String {
    "the file cannot be read: \(String(cString: strerror(code)))"
  }
}

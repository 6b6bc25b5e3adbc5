import Foundation

/// A file opened for reading whose size is known before any of it is read, so that readers can
/// check a header against the size and read a body whose length they already know.
final class SizedFile {
  /// Why a file could not be opened or read, as a message ends: "the file does not exist".
  struct Failure: Error {
    var reason: String
  }

  let size: Int
  private let handle: FileHandle

  init(_ path: String) throws(Failure) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      var isFolder: ObjCBool = false
      let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
      let reason =
        isFolder.boolValue ? "is a directory" : exists ? "cannot be read" : "does not exist"
      throw Failure(reason: "the file \(reason)")
    }
    self.handle = handle
    do {
      size = Int(try handle.seekToEnd())
      try handle.seek(toOffset: 0)
    } catch {
      try? handle.close()
      throw Failure(reason: "cannot be read: \(error.localizedDescription)")
    }
  }

  deinit { try? handle.close() }

  /// Up to `count` bytes from the current position (fewer at the end of the file).
  func read(_ count: Int) throws(Failure) -> [UInt8] {
    do {
      return [UInt8](try handle.read(upToCount: max(0, count)) ?? Data())
    } catch {
      throw Failure(reason: "cannot be read: \(error.localizedDescription)")
    }
  }

  /// Moves back to the first byte.
  func rewind() throws(Failure) {
    do {
      try handle.seek(toOffset: 0)
    } catch {
      throw Failure(reason: "cannot be read: \(error.localizedDescription)")
    }
  }
}

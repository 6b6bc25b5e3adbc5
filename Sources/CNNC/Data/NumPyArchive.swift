/// The arrays of a NumPy `.npz` file: a zip archive of `.npy` members, stored (`np.savez`) or
/// deflated (`np.savez_compressed`), zip64 fields included (NumPy writes them). Stored members
/// stay in the file, read a sample at a time; deflated ones are inflated into memory, up to their declared size.
enum NumPyArchive {
  /// Members larger than this (inflated) are refused.
  static let maximumInflatedBytes = 4 << 30

  /// The member `name.npy` of the archive at `path`.
  static func array(_ name: String, in path: String) throws(DataError) -> NumPyArray {
    try array(name, in: DataFile(path))
  }

  static func array(_ name: String, in file: DataFile) throws(DataError) -> NumPyArray {
    let path = file.path
    let members = try centralDirectory(file)
    guard let member = members.first(where: { $0.name == name + ".npy" }) else {
      let names = members.map { "'\($0.name.replacingOccurrences(of: ".npy", with: ""))'" }
      throw DataError(
        file: path,
        "has no array named '\(name)' (it has \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
      )
    }
    let label = "\(path)/\(member.name)"
    let local = member.localHeader
    guard local <= file.size - 30, try read32(file, local) == 0x0403_4B50 else {
      throw DataError(file: label, "its zip local header is missing or corrupt")
    }
    let start = try local + 30 + read16(file, local + 26) + read16(file, local + 28)
    guard let end = checkedSum([start, member.compressedSize]), end <= file.size else {
      throw DataError(file: label, "the archive is truncated inside this member")
    }
    switch member.method {
    case 0:
      return try NumPyArray(file, range: start..<end, name: label)
    case 8:
      guard member.size <= maximumInflatedBytes else {
        throw DataError(file: label, "inflates to \(member.size) bytes, more than cnnc reads")
      }
      // Inflate no more than the .npy header inside says the member holds (a zip header may
      // promise gigabytes for an array of 784 bytes): read the header first, from a prefix.
      let compressed = try file.bytes(start..<end)
      let head = try gunzip(
        compressed, limit: min(member.size, NumPyArray.maximumHeaderBytes), file: label,
        raw: true, prefix: true)
      let declared = try NumPyArray.declaredBytes(
        DataFile(path: label, bytes: head), name: label)
      let inflated = try gunzip(
        compressed, limit: min(member.size, declared), file: label, raw: true)
      return try NumPyArray(DataFile(path: label, bytes: inflated), name: label)
    default:
      throw DataError(
        file: label,
        "uses zip compression method \(member.method); cnnc reads stored (0) and "
          + "deflated (8) members, as np.savez and np.savez_compressed write")
    }
  }

  private struct Member {
    var name: String
    var method: Int
    var compressedSize: Int
    var size: Int
    var localHeader: Int
  }

  /// The members, each name once: a zip may repeat a name, and readers disagree on which copy
  /// counts (NumPy takes the last), so a repeated name is refused.
  private static func centralDirectory(_ file: DataFile) throws(DataError) -> [Member] {
    let members = try allMembers(file)
    var seen = Set<String>()
    for member in members where !seen.insert(member.name).inserted {
      throw DataError(
        file: file.path,
        "holds two members named '\(member.name)'; NumPy would read the last, so cnnc reads neither"
      )
    }
    return members
  }

  private static func allMembers(_ file: DataFile) throws(DataError) -> [Member] {
    // The end record is in the last 22 + 65,535 bytes (its comment is at most that long):
    // read them once and search backwards in memory.
    let tailStart = max(0, file.size - 22 - 65_535)
    let tail = try file.bytes(tailStart..<file.size)
    var end = -1
    var position = tail.count - 22
    while position >= 0 {
      if tail[position] == 0x50 && tail[position + 1] == 0x4B && tail[position + 2] == 0x05
        && tail[position + 3] == 0x06
      {
        end = tailStart + position
        break
      }
      position -= 1
    }
    guard end >= 0 else {
      throw DataError(file: file.path, "is not a zip archive (.npz): no end-of-directory record")
    }
    var count = try read16(file, end + 10)
    var directory = try read32(file, end + 16)
    var directorySize = try read32(file, end + 12)
    if count == 0xFFFF || directory == 0xFFFF_FFFF || directorySize == 0xFFFF_FFFF {
      // Zip64: a locator just before the end record points at the zip64 end record.
      guard end >= 20, try read32(file, end - 20) == 0x0706_4B50 else {
        throw DataError(file: file.path, "its zip64 end record is missing")
      }
      let record = try read64(file, end - 12)
      guard record >= 0, record <= file.size - 56, try read32(file, record) == 0x0606_4B50 else {
        throw DataError(file: file.path, "its zip64 end record is corrupt")
      }
      (count, directorySize, directory) =
        (
          try read64(file, record + 32), try read64(file, record + 40),
          try read64(file, record + 48)
        )
    }
    guard count >= 0, count <= 65_536, directory >= 0, directorySize >= 0,
      directory <= file.size - directorySize
    else {
      throw DataError(file: file.path, "its zip directory lies outside the file (corrupt)")
    }
    var members: [Member] = []
    var at = directory
    for _ in 0..<count {
      guard at + 46 <= file.size, try read32(file, at) == 0x0201_4B50 else {
        throw DataError(file: file.path, "its zip directory is corrupt")
      }
      let (nameLength, extraLength) = (try read16(file, at + 28), try read16(file, at + 30))
      let next = try at + 46 + nameLength + extraLength + read16(file, at + 32)
      guard next <= file.size else {
        throw DataError(file: file.path, "its zip directory is truncated")
      }
      var member = Member(
        name: String(decoding: try file.bytes(at + 46..<at + 46 + nameLength), as: UTF8.self),
        method: try read16(file, at + 10), compressedSize: try read32(file, at + 20),
        size: try read32(file, at + 24), localHeader: try read32(file, at + 42))
      // The zip64 extra field holds, in this order, whichever of the three were 0xFFFFFFFF.
      var extra = at + 46 + nameLength
      while extra + 4 <= at + 46 + nameLength + extraLength {
        let (id, length) = (try read16(file, extra), try read16(file, extra + 2))
        if id == 1 {
          var field = extra + 4
          if member.size == 0xFFFF_FFFF {
            (member.size, field) = (try read64(file, field), field + 8)
          }
          if member.compressedSize == 0xFFFF_FFFF {
            (member.compressedSize, field) = (try read64(file, field), field + 8)
          }
          if member.localHeader == 0xFFFF_FFFF { member.localHeader = try read64(file, field) }
        }
        extra += 4 + length
      }
      guard member.size >= 0, member.compressedSize >= 0, member.localHeader >= 0 else {
        throw DataError(file: file.path, "its zip directory has impossible sizes (corrupt)")
      }
      members.append(member)
      at = next
    }
    return members
  }

  /// Little-endian integers at `offset`; 0 past the end of the file (callers check bounds where
  /// a value matters).
  private static func read16(_ file: DataFile, _ offset: Int) throws(DataError) -> Int {
    try read(file, offset, 2)
  }
  private static func read32(_ file: DataFile, _ offset: Int) throws(DataError) -> Int {
    try read(file, offset, 4)
  }
  private static func read64(_ file: DataFile, _ offset: Int) throws(DataError) -> Int {
    let value = try read(file, offset, 8)
    return value < 0 ? -1 : value
  }

  private static func read(_ file: DataFile, _ offset: Int, _ count: Int) throws(DataError)
    -> Int
  {
    guard offset >= 0, offset + count <= file.size else { return 0 }
    return try file.bytes(offset..<offset + count).reversed().reduce(0) { $0 << 8 | Int($1) }
  }
}

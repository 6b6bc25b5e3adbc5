// The image-folder walk on trees the input describes: folders, PNG and junk files, and symbolic
// links (loops, links to the root, to siblings, to nothing), under names that are not UTF-8 or
// hold a line break. Either an error, or a dataset whose files are each listed once, lie under
// the root, were made by the input, and carry a label of one of its classes; never a crash, a
// trap or a hang (a loop once walked about 2^40 paths).
import CNNC
import Foundation

/// A 28×28 grey PNG, the images the walk accepts.
let png: [UInt8] = [
  0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x1C, 0x00, 0x00, 0x00, 0x1C, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57, 0x66, 0x80,
  0x48, 0x00, 0x00, 0x00, 0x47, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x7D, 0xC1, 0x87, 0x01, 0x40,
  0x30, 0x00, 0x00, 0xC1, 0x57, 0xA3, 0x13, 0x24, 0xDA, 0xFE, 0x7B, 0xDA, 0xE0, 0xEF, 0xC0, 0x14,
  0x82, 0x52, 0x50, 0x09, 0x6A, 0x41, 0x23, 0x68, 0x05, 0x41, 0xD0, 0x09, 0x7A, 0xC1, 0x20, 0x18,
  0x05, 0x93, 0x60, 0x16, 0x2C, 0x82, 0x55, 0xB0, 0x09, 0xA2, 0x60, 0x17, 0x1C, 0x82, 0x53, 0x90,
  0x04, 0x59, 0x70, 0x09, 0x6E, 0xC1, 0x23, 0x78, 0x05, 0x9F, 0xF8, 0x01, 0xF4, 0x2E, 0x29, 0x59,
  0x96, 0x14, 0x58, 0x85, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
]

/// Path components the input picks from: plain, hidden, not UTF-8, with a line break.
let names: [[UInt8]] = [
  Array("a".utf8), Array("b".utf8), Array(".h".utf8), [0x63, 0xFF], Array("n\n".utf8),
  Array("1.png".utf8),
]
/// Where a link points: within the tree (its root at most), so that the walk's time does not
/// depend on what else is on the machine.
let targets = ["..", ".", "a", "../a", "b/a", "missing", "../b/1.png"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFolderWalk(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  // In memory where there is a tmpfs: each input makes and removes a tree.
  let base =
    FileManager.default.fileExists(atPath: "/dev/shm")
    ? "/dev/shm" : FileManager.default.temporaryDirectory.path
  var rootBytes = Array((base + "/fuzz-walk-XXXXXX").utf8CString)
  guard mkdtemp(&rootBytes) != nil else { fatalError("mkdtemp failed") }
  let root = String(decoding: rootBytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  defer { removeTree(root) }

  var made = 0
  var offset = 0
  // Six bytes an operation: what, how deep (1 to 3 names), the names, and a detail.
  while offset + 6 <= min(size, 6 * 48) {
    let (kind, depth, detail) = (data[offset], Int(data[offset + 1]) % 3 + 1, data[offset + 5])
    var path = Array(root.utf8)
    for level in 0..<depth {
      path += [UInt8(ascii: "/")] + names[Int(data[offset + 2 + level]) % names.count]
    }
    offset += 6
    let cPath = path.map { CChar(bitPattern: $0) } + [0]
    switch kind % 3 {
    case 0:
      mkdir(cPath, 0o755)
    case 1:
      let contents = detail % 2 == 0 ? png : Array(png.prefix(Int(detail) % png.count))
      let descriptor = open(cPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
      if descriptor >= 0 {
        _ = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        made += 1
      }
    default:
      if symlink(targets[Int(detail) % targets.count], cPath) == 0 { made += 1 }
    }
  }
  let shape = Shape(channels: 1, height: 28, width: 28)
  if let folder = try? ImageFolder(classes: root, shape: shape) {
    check(folder, root: root, made: made)
    for index in 0..<folder.count {
      precondition((0..<folder.classNames.count).contains(folder.label(of: index)), "a bad label")
    }
  }
  if let folder = try? ImageFolder(unlabelled: root, shape: shape) {
    check(folder, root: root, made: made)
  }
  return 0
}

func check(_ folder: ImageFolder, root: String, made: Int) {
  precondition(Set(folder.files).count == folder.count, "a file listed twice")
  precondition(folder.count <= made, "more files than the input made")
  for file in folder.files {
    precondition(file.hasPrefix(root + "/"), "a file outside the root")
    precondition(!file.contains("\n"), "a name with a line break listed")
  }
}

/// Removes `path` and everything under it without following links, by the names' bytes.
func removeTree(_ path: String) {
  let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
  if descriptor >= 0 { removeContents(descriptor) }
  rmdir(path)
}

func removeContents(_ descriptor: Int32) {
  guard let directory = fdopendir(descriptor) else {
    close(descriptor)
    return
  }
  defer { closedir(directory) }
  var entries: [[CChar]] = []
  while let entry = readdir(directory) {
    let name = FileName.bytes(of: entry)
    if name == [0x2E] || name == [0x2E, 0x2E] { continue }
    entries.append(name.map { CChar(bitPattern: $0) } + [0])
  }
  for name in entries {
    let child = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    if child >= 0 {
      removeContents(child)
      unlinkat(descriptor, name, AT_REMOVEDIR)
    } else {
      unlinkat(descriptor, name, 0)
    }
  }
}

import Foundation

/// A folder of PNG and JPEG images, one subfolder per class (torchvision's ImageFolder layout):
/// class k is the k-th subfolder name in sorted order. Every file's header is checked when the
/// folder is opened; the pixels are decoded when a sample is read, on the reading thread.
public struct ImageFolder: ImageDataset {
  public let root: String
  /// The class names (subfolder names), in class-index order; empty for an unlabelled folder.
  public let classNames: [String]
  /// Every image file, in sample order (by class, then by path).
  public let files: [String]
  private let labels: [Int32]
  public let imageShape: Shape
  /// The files' own size when they are resized to `imageShape`'s; nil when they are that size.
  private let storedSizes: [Pair]?

  public var count: Int { files.count }
  public func label(of index: Int) -> Int { labels.isEmpty ? -1 : Int(labels[index]) }
  public func name(of index: Int) -> String { files[index] }

  /// Opens a class-per-subfolder folder, checking every file's header: a PNG or JPEG whose size
  /// is `shape`'s, unless `resize` (which must then be `shape`'s height and width) is given.
  public init(classes root: String, shape: Shape, resize: Pair? = nil) throws(DataError) {
    let entries = try Self.entries(of: root)
    var classNames: [String] = []
    var files: [String] = []
    var labels: [Int32] = []
    var walk = Walk()
    try walk.enter(root)
    for name in entries {
      let path = root + "/" + name
      guard Self.isDirectory(path) else {
        throw DataError(
          file: path, "is a file directly in the data folder; put each image in its class's folder")
      }
      let before = files.count
      try Self.collect(path, depth: 1, walk: &walk, into: &files)
      guard files.count > before else {
        throw DataError(file: path, "class folder '\(name)' holds no image")
      }
      labels += [Int32](repeating: Int32(classNames.count), count: files.count - before)
      classNames.append(name)
    }
    guard !classNames.isEmpty else {
      throw DataError(file: root, "has no class folders (one subfolder of images per class)")
    }
    try self.init(
      root: root, classNames: classNames, files: files, labels: labels, shape: shape, resize: resize
    )
  }

  /// Opens a folder of unlabelled images (subfolders included), in sorted path order.
  public init(unlabelled root: String, shape: Shape, resize: Pair? = nil) throws(DataError) {
    var files: [String] = []
    var walk = Walk()
    try Self.collect(root, depth: 0, walk: &walk, into: &files)
    guard !files.isEmpty else { throw DataError(file: root, "holds no image") }
    try self.init(
      root: root, classNames: [], files: files, labels: [], shape: shape, resize: resize)
  }

  private init(
    root: String, classNames: [String], files: [String], labels: [Int32], shape: Shape,
    resize: Pair?
  ) throws(DataError) {
    guard shape.channels == 1 || shape.channels == 3 else {
      throw DataError(
        file: root, "images decode to 1 (grey) or 3 (RGB) channels; the input has \(shape.channels)"
      )
    }
    var sizes: [Pair] = []
    for file in files {
      let header = try ImageFile.header(of: file)
      let size = Pair(height: header.height, width: header.width)
      if resize == nil, size != Pair(height: shape.height, width: shape.width) {
        throw DataError(
          file: file,
          "is \(size) pixels but the network's input is \(shape.height)×\(shape.width) "
            + "(add resize: [\(shape.height), \(shape.width)] to train.data to resize)")
      }
      if resize != nil { sizes.append(size) }
    }
    self.root = root
    self.classNames = classNames
    self.files = files
    self.labels = labels
    self.imageShape = shape
    self.storedSizes = resize == nil ? nil : sizes
  }

  public func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError) {
    let path = files[index]
    let size = try ImageFile.read(path, into: &scratch.fileBytes)
    let (channels, height, width) = (imageShape.channels, imageShape.height, imageShape.width)
    let stored = storedSizes?[index] ?? Pair(height: height, width: width)
    try ImageFile.decode(
      scratch.fileBytes, size: size, path: path, channels: channels, height: stored.height,
      width: stored.width, into: &scratch.pixels, scratch: scratch)
    if storedSizes != nil {
      ImageFile.resize(
        scratch.pixels, from: stored, to: Pair(height: height, width: width), channels: channels,
        into: &scratch.resized)
      swap(&scratch.pixels, &scratch.resized)
    }
    // Interleaved (H, W, C) bytes to planes (C, H, W).
    let plane = height * width
    scratch.pixels.withUnsafeBufferPointer { pixels in
      for pixel in 0..<plane {
        for channel in 0..<channels {
          target[channel * plane + pixel] = Float(pixels[pixel * channels + channel])
        }
      }
    }
  }

  /// The names in `folder`, sorted, hidden ones (".DS_Store") left out.
  private static func entries(of folder: String) throws(DataError) -> [String] {
    guard isDirectory(folder) else {
      throw DataError(
        file: folder,
        FileManager.default.fileExists(atPath: folder)
          ? "is not a folder" : "the folder does not exist")
    }
    // readdir, not FileManager: the names' own bytes, so that one that is not UTF-8 is
    // refused rather than decoded into the name of another file.
    guard let directory = opendir(folder) else {
      throw DataError(file: folder, "cannot be listed: \(String(cString: strerror(errno)))")
    }
    defer { closedir(directory) }
    var names: [String] = []
    while true {
      // readdir's nil is the end, or an error (EIO, a stale NFS handle) that errno tells apart.
      errno = 0
      guard let entry = readdir(directory) else {
        guard errno == 0 else {
          throw DataError(file: folder, "cannot be listed: \(String(cString: strerror(errno)))")
        }
        break
      }
      let bytes = FileName.bytes(of: entry)
      // Hidden files, "." and "..".
      guard bytes.first != UInt8(ascii: ".") else { continue }
      switch FileName.decode(bytes) {
      case .success(let name): names.append(name)
      case .failure(let refusal):
        throw DataError(
          file: folder,
          "holds a name that \(refusal.reason); cnnc shows names in messages and lists them one "
            + "per line (.classes.txt, .files.txt): rename it")
      }
    }
    return names.sorted()
  }

  /// Every file under `folder`, subfolders walked in sorted order, each folder once.
  private static func collect(
    _ folder: String, depth: Int, walk: inout Walk, into files: inout [String]
  ) throws(DataError) {
    guard depth <= Walk.maximumDepth else {
      throw DataError(
        file: folder,
        "lies \(depth) folders deep; a data folder is walked \(Walk.maximumDepth) deep at most")
    }
    try walk.enter(folder)
    for name in try entries(of: folder) {
      let path = folder + "/" + name
      if isDirectory(path) {
        try collect(path, depth: depth + 1, walk: &walk, into: &files)
      } else {
        files.append(path)
        guard files.count <= Walk.maximumFiles else {
          throw DataError(
            file: folder, "holds more than \(Walk.maximumFiles) files under the data folder")
        }
      }
    }
  }

  /// The folders a walk has entered, by device and inode: a link back to one of them (a loop,
  /// `class/loop -> ..`) or a second link to the same folder is refused, naming both paths,
  /// where following it would walk without end or read the same images twice.
  private struct Walk {
    static let maximumDepth = 64
    static let maximumFiles = 10_000_000
    private var entered: [FolderID: String] = [:]

    private struct FolderID: Hashable {
      var device: UInt64
      var inode: UInt64
    }

    mutating func enter(_ folder: String) throws(DataError) {
      var status = stat()
      guard stat(folder, &status) == 0 else {
        throw DataError(file: folder, "cannot be read: \(String(cString: strerror(errno)))")
      }
      let id = FolderID(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
      if let earlier = entered[id] {
        throw DataError(
          file: folder,
          "is the folder '\(earlier)' again (a link back into the walk); each folder is read once")
      }
      entered[id] = folder
    }
  }

  private static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
  }
}

import Foundation
import Testing

@testable import CNNC

/// Broken data files of every kind: each an error that names the file and the problem, found
/// from headers and sizes before any body is read whole.
@Suite struct DataErrorTests {
  typealias Write = DataFileWriters
  typealias Forms = DataFormatTests

  /// Opens the data `data` names in a spec in `folder`; the error's text, or nil if it opened.
  static func openingError(_ data: String, in folder: String) throws -> String? {
    let spec = try Forms.writeSpec(data, in: folder)
    let network = try InferredNetwork(yaml: Forms.spec(data))
    do {
      _ = try TrainingData(for: network, specPath: spec)
      return nil
    } catch {
      return error.description
    }
  }

  /// A class folder `a` with two valid 28×28 PNGs, in a fresh folder.
  static func pictures() throws -> String {
    let folder = try Write.folder()
    for name in ["a", "b"] {
      try Write.makeFolder("\(folder)/pictures/\(name)")
      try Write.png(
        [UInt8](repeating: 9, count: 784), height: 28, width: 28,
        to: "\(folder)/pictures/\(name)/1.png")
    }
    return folder
  }

  /// A name that is not UTF-8, or that holds a line break, is refused when the folder is opened,
  /// its bytes shown: decoded, it named another file ("a file directly in the data folder"), and
  /// a line break broke `.classes.txt` / `.files.txt` one name per line.
  @Test func namesThatCannotBeListedAreRefused() throws {
    let data = "{format: folder, train: pictures}"
    let cases: [(bytes: [UInt8], isFolder: Bool, shown: String)] = [
      (Array("b".utf8) + [0xFF], true, #"holds a name that is not UTF-8 ("b\xFF")"#),
      (Array("2\n.png".utf8), false, #"holds a name that holds a line break ("2\x0A.png")"#),
    ]
    for (bytes, isFolder, shown) in cases {
      let folder = try Self.pictures()
      let path = Array((folder + "/pictures/" + (isFolder ? "" : "b/")).utf8) + bytes + [0]
      let made = path.withUnsafeBufferPointer { pointer in
        pointer.withMemoryRebound(to: CChar.self) { name in
          isFolder ? mkdir(name.baseAddress!, 0o755) : creat(name.baseAddress!, 0o644)
        }
      }
      #expect(made >= 0)
      let message = try #require(try Self.openingError(data, in: folder))
      #expect(message.contains(shown), "\(message)")
    }
  }

  @Test func folderProblemsNameTheFile() throws {
    let data = "{format: folder, train: pictures}"
    var folder = try Self.pictures()
    #expect(try Self.openingError(data, in: folder) == nil)

    try Data("not a picture".utf8).write(to: URL(fileURLWithPath: folder + "/pictures/a/notes.txt"))
    var message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("pictures/a/notes.txt: is not a PNG or JPEG image"), "\(message)")

    folder = try Self.pictures()
    try Write.makeFolder(folder + "/pictures/c")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("pictures/c: class folder 'c' holds no image"), "\(message)")

    folder = try Self.pictures()
    try Write.png(
      [UInt8](repeating: 0, count: 30 * 30), height: 30, width: 30, to: folder + "/pictures/b/2.png"
    )
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("pictures/b/2.png: is 30×30 pixels but the network's input is 28×28"))

    folder = try Self.pictures()
    for index in 0..<10 {
      try Write.makeFolder("\(folder)/pictures/c\(index)")
      try Write.png(
        [UInt8](repeating: 0, count: 784), height: 28, width: 28,
        to: "\(folder)/pictures/c\(index)/1.png")
    }
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("has 12 class folders but the network has 10 outputs"), "\(message)")

    // A PNG header declaring 60,000 × 60,000 pixels: refused from the header, even with resize.
    folder = try Self.pictures()
    let side: [UInt8] = [0, 0, 0xEA, 0x60]
    let header: [UInt8] =
      [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + side
      + side + [8, 0, 0, 0, 0]
    try Data(header).write(to: URL(fileURLWithPath: folder + "/pictures/a/huge.png"))
    message = try #require(
      try Self.openingError("{format: folder, train: pictures, resize: [28, 28]}", in: folder))
    #expect(
      message.contains("huge.png: PNG header declares 60000×60000 pixels, more than cnnc decodes"))

    // A 4-component (CMYK) JPEG: its frame header's component count, patched from a grey
    // JPEG's, is refused when the folder is opened, not when the image is decoded.
    folder = try Self.pictures()
    let grey = folder + "/pictures/a/grey.jpg"
    try Write.jpeg([UInt8](repeating: 90, count: 784), height: 28, width: 28, to: grey)
    #expect(try Self.openingError(data, in: folder) == nil)
    var jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: grey)))
    let frame = try #require(
      jpeg.indices.dropLast().first { jpeg[$0] == 0xFF && (0xC0...0xC2).contains(jpeg[$0 + 1]) })
    #expect(jpeg[frame + 9] == 1)
    jpeg[frame + 9] = 4
    try Data(jpeg).write(to: URL(fileURLWithPath: grey))
    message = try #require(try Self.openingError(data, in: folder))
    #expect(
      message.contains("grey.jpg: is a JPEG of 4 colour components (CMYK or YCCK) at 8 bits"),
      "\(message)")

    message = try #require(try Self.openingError("{format: folder, train: nowhere}", in: folder))
    #expect(message.contains("nowhere: the folder does not exist"), "\(message)")
  }

  @Test func truncatedPNGAndJPEGStopTrainingNamingTheFile() throws {
    for kind in ["png", "jpg"] {
      let folder = try Self.pictures()
      let path = "\(folder)/pictures/b/2.\(kind)"
      let pixels = (0..<784).map { UInt8($0 % 251) }
      if kind == "png" {
        try Write.png(pixels, height: 28, width: 28, to: path)
      } else {
        try Write.jpeg(pixels, height: 28, width: 28, to: path)
      }
      let whole = try Data(contentsOf: URL(fileURLWithPath: path))
      try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
      let spec = try Forms.writeSpec("{format: folder, train: pictures}", in: folder)
      let checkpoint = folder + "/c.safetensors"
      let run = try CommandLineTests.run([
        "run", spec, "--train", "--batch", "3", "--steps", "2", "--out", checkpoint,
      ])
      #expect(run.status == 1, "\(kind): \(run.stderr)")
      #expect(
        run.stderr.contains("\(path): \(kind == "png" ? "PNG" : "JPEG") data is corrupt"),
        "\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: checkpoint))
    }
  }

  /// A data file truncated while cnnc reads it (another program rewriting it in place) is
  /// an error naming the file, where (mapped) it was a SIGBUS that killed the run; the bytes before
  /// the cut still read.
  @Test func dataTruncatedWhileReadIsAnError() throws {
    let folder = try Write.folder()
    let values = 3 * 32 * 32
    let npy = folder + "/x.npy"
    try Write.npy(
      descr: "|u1", shape: [64, 3, 32, 32], body: [UInt8](repeating: 7, count: 64 * values),
      to: npy)
    let cifar = folder + "/data_batch_1.bin"
    try Data((0..<64).flatMap { _ in [UInt8(3)] + [UInt8](repeating: 9, count: values) })
      .write(to: URL(fileURLWithPath: cifar))
    let sets: [(path: String, data: any ImageDataset, pixel: Float)] = [
      (npy, try NumPyImages(images: npy, labels: nil, classes: 0), 7),
      (cifar, try CIFARImages(files: [cifar], cifar: 10, networkClasses: 10), 9),
    ]
    for (path, data, pixel) in sets {
      var image = [Float](repeating: 0, count: values)
      try data.readValues(of: 63, into: &image, scratch: DecodeScratch())
      #expect(image.allSatisfy { $0 == pixel })
      #expect(truncate(path, 8192) == 0)
      let error = #expect(throws: DataError.self) {
        try data.readValues(of: 63, into: &image, scratch: DecodeScratch())
      }
      #expect(
        error?.description.hasPrefix(
          "\(path): was truncated or rewritten while cnnc read it") == true,
        "\(String(describing: error))")
      try data.readValues(of: 0, into: &image, scratch: DecodeScratch())
      #expect(image.allSatisfy { $0 == pixel })
    }
  }

  @Test func numPyProblemsNameTheFile() throws {
    let folder = try Write.folder()
    let data = "{format: npy, train: {images: x.npy, labels: y.npy}}"
    let pixels = [UInt8](repeating: 1, count: 4 * 784)
    try Write.npy(descr: "|u1", shape: [4, 1, 28, 28], body: pixels, to: folder + "/x.npy")
    try Write.npy(
      descr: "<i8", shape: [4], body: Write.int64Bytes([0, 1, 2, 9]), to: folder + "/y.npy")
    #expect(try Self.openingError(data, in: folder) == nil)

    try Write.npy(
      descr: "<i8", shape: [4], body: Write.int64Bytes([0, 1, 2, 10]), to: folder + "/y.npy")
    var message = try #require(try Self.openingError(data, in: folder))
    #expect(
      message.contains("y.npy: label 10 of image 3 is not a class of the network's 10 outputs"))

    try Write.npy(
      descr: "<i8", shape: [3], body: Write.int64Bytes([0, 1, 2]), to: folder + "/y.npy")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("y.npy: has shape [3]; labels must be one integer per image (4)"))

    try Write.npy(
      descr: "<i8", shape: [4], body: Write.int64Bytes([0, 1, 2, 3]), to: folder + "/y.npy")
    try Write.npy(
      descr: "<f8", shape: [4, 1, 28, 28],
      body: pixels + pixels + pixels + pixels + pixels
        + pixels + pixels + pixels, to: folder + "/x.npy")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("x.npy: holds f8 values; images must be uint8 or float32"))

    // A huge declared shape over a small body: refused from the header, nothing mapped whole.
    try Write.npy(descr: "|u1", shape: [1 << 40, 1, 28, 28], body: pixels, to: folder + "/x.npy")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("x.npy: truncated: shape (1099511627776, 1, 28, 28)"), "\(message)")
    try Write.npy(
      descr: "|u1", shape: [1 << 40, 1 << 40, 28, 28], body: pixels, to: folder + "/x.npy")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("describes more data than fits in memory"), "\(message)")

    try Data([0x93, 0x4E, 0x55]).write(to: URL(fileURLWithPath: folder + "/x.npy"))
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("x.npy: is too short for a .npy header"), "\(message)")

    try Write.npy(
      descr: "|u1", shape: [4, 3, 28, 28], body: pixels + pixels + pixels, to: folder + "/x.npy")
    message = try #require(try Self.openingError(data, in: folder))
    #expect(message.contains("does not fit the training data's 3×28×28 images"), "\(message)")

    // A NaN (then an infinity) in float32 images: named with its image when the data is opened.
    for (value, what) in [(Float.nan, "NaN"), (-Float.infinity, "an infinite value")] {
      var floats = [Float](repeating: 0.5, count: 4 * 784)
      floats[2 * 784 + 17] = value
      let body = floats.flatMap { value in
        withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
      }
      try Write.npy(descr: "<f4", shape: [4, 1, 28, 28], body: body, to: folder + "/x.npy")
      message = try #require(try Self.openingError(data, in: folder))
      #expect(
        message.contains("x.npy: image 2 holds \(what) (its element 17)"), "\(message)")
    }
  }

  @Test func cifarAndIDXProblemsNameTheFile() throws {
    let folder = try Write.folder()
    try Data([UInt8](repeating: 0, count: 3073 * 2 + 5)).write(
      to: URL(fileURLWithPath: folder + "/batch.bin"))
    let cifarSpec = """
      {format: cifar, train: [batch.bin]}
      """
    var message = try #require(try Self.openingError(cifarSpec, in: folder))
    #expect(message.contains("batch.bin: is 6151 bytes, not a whole number of CIFAR-10 records"))

    try Write.idx(
      [UInt8](repeating: 0, count: 2 * 784), dimensions: [2, 28, 28], to: folder + "/i")
    try Write.idx([3, 11], dimensions: [2], to: folder + "/l")
    message = try #require(
      try Self.openingError("{format: idx, train: {images: i, labels: l}}", in: folder))
    #expect(message.contains("/l: label 11 of image 1 is not a class"), "\(message)")
  }

  @Test func specMistakesAreLocatedDiagnostics() {
    let cases: [(String, String)] = [
      ("{format: npy, train: x.npz, path: here}", "'path' is not a setting of format npy"),
      ("{format: folder}", "missing required key 'train'"),
      ("{format: cifar, train: a.bin, cifar: 20}", "'cifar' must be 10 or 100"),
      (
        "{format: mnist, path: m, mean: [0.1, 0.2], std: [1]}",
        "'mean' has 2 values but 'std' has 1"
      ),
      ("{format: npy, train: {images: x.npy}}", "missing required key 'labels'"),
      ("{format: idx, train: x}", "must be {images: FILE, labels: FILE} for format idx"),
      ("{format: folder, train: p, validation: 1.5}", "'validation' must be between 0 and 1"),
      ("{format: tiff, train: p}", "'format' must be 'mnist' or 'npy'"),
    ]
    for (data, expected) in cases {
      let result = check(Forms.spec(data))
      #expect(!result.isValid, "\(data)")
      let messages = result.diagnostics.errors.map(\.message)
      #expect(messages.contains { $0.contains(expected) }, "\(data): \(messages)")
      #expect(result.diagnostics.errors.allSatisfy { $0.location.line == 10 }, "\(data)")
    }
  }
}

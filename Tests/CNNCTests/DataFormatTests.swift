import Foundation
import Testing

@testable import CNNC

/// The data formats of `train.data`: the same images in every form train the same, and every
/// kind of broken file is an error naming it.
@Suite struct DataFormatTests {
  typealias CLI = CommandLineTests
  typealias Write = DataFileWriters

  /// The small test net, reading `data`, with 30-image batches.
  static func spec(_ data: String) -> String {
    """
    name: forms
    input: [1, 28, 28]
    layers:
      - {type: conv, name: conv, filters: 4, kernel: 4, stride: 2}
      - {type: relu}
      - {type: maxpool, kernel: 2}
      - {type: dense, name: fc, units: 10}
      - {type: softmax}
    train:
      data: \(data)
      batch: 30
      seed: 3
      optimizer: {type: sgd, lr: 0.05, momentum: 0.9}

    """
  }

  /// Writes the spec into `folder` and returns its path.
  static func writeSpec(_ data: String, in folder: String, name: String = "spec.yaml") throws
    -> String
  {
    let path = folder + "/" + name
    try Data(spec(data).utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// 300 training and 100 test images of MNIST, ordered by class (the order a folder per class
  /// gives), as PNG folders, `.npy` arrays and IDX files in one folder.
  static func threeForms() throws -> String {
    let mnist = try #require(shippedMNIST)
    let folder = try Write.folder()
    for (split, data, count) in [("train", mnist.train, 300), ("test", mnist.test, 100)] {
      let order = (0..<count).sorted { (data.labels[$0], $0) < (data.labels[$1], $1) }
      let pixels = data.pixelsPerImage
      var images: [UInt8] = []
      for (position, index) in order.enumerated() {
        let image = Array(data.images[(index * pixels)..<((index + 1) * pixels)])
        images += image
        let classFolder = "\(folder)/png/\(split)/\(data.labels[index])"
        try Write.makeFolder(classFolder)
        try Write.png(
          image, height: 28, width: 28, to: classFolder + String(format: "/%05d.png", position))
      }
      let labels = order.map { Int(data.labels[$0]) }
      try Write.npy(
        descr: "|u1", shape: [count, 28, 28], body: images, to: "\(folder)/\(split)-x.npy")
      try Write.npy(
        descr: "<i8", shape: [count], body: Write.int64Bytes(labels), to: "\(folder)/\(split)-y.npy"
      )
      try Write.idx(images, dimensions: [count, 28, 28], to: "\(folder)/\(split)-images-idx")
      try Write.idx(
        labels.map { UInt8($0) }, dimensions: [count], to: "\(folder)/\(split)-labels-idx")
    }
    return folder
  }

  static let forms = [
    "format: folder, train: png/train, test: png/test",
    "format: npy, train: {images: train-x.npy, labels: train-y.npy}, "
      + "test: {images: test-x.npy, labels: test-y.npy}",
    "format: idx, train: {images: train-images-idx, labels: train-labels-idx}, "
      + "test: {images: test-images-idx, labels: test-labels-idx}",
  ]

  /// Trains 50 steps on each form; returns the checkpoints' bytes.
  static func trainEachForm(in folder: String, settings: String) throws -> [Data] {
    try forms.enumerated().map { index, form in
      let spec = try writeSpec("{\(form), \(settings)}", in: folder, name: "form\(index).yaml")
      let checkpoint = "\(folder)/form\(index)-\(settings.hashValue).safetensors"
      let run = try CLI.run(["run", spec, "--train", "--steps", "50", "--out", checkpoint])
      #expect(run.status == 0, "\(form): \(run.stderr)")
      return try RunCommandTests.bytes(checkpoint)
    }
  }

  @Test func sameImagesAsPNGFolderNumPyAndIDXTrainBitIdentically() throws {
    let folder = try Self.threeForms()
    let plain = try Self.trainEachForm(in: folder, settings: "scale: 0.00390625")
    #expect(plain[0] == plain[1], "PNG folder and .npy differ")
    #expect(plain[1] == plain[2], ".npy and IDX differ")
    // With normalisation and seeded augmentation the three still agree, and differ from plain.
    let augmented = try Self.trainEachForm(
      in: folder,
      settings: "scale: 0.00390625, mean: 0.1307, std: 0.3081, random_crop: {pad: 2}, "
        + "horizontal_flip: true")
    #expect(augmented[0] == augmented[1] && augmented[1] == augmented[2])
    #expect(augmented[0] != plain[0])
  }

  @Test func augmentedRunResumesToTheSameCheckpoint() throws {
    let folder = try Self.threeForms()
    let spec = try Self.writeSpec(
      "{\(Self.forms[1]), scale: 0.00390625, random_crop: {pad: 3}, horizontal_flip: true}",
      in: folder)
    let straight = folder + "/straight.safetensors"
    let split = folder + "/split.safetensors"
    for arguments in [
      ["--steps", "40", "--out", straight], ["--steps", "17", "--out", split],
      ["--steps", "40", "--resume", split, "--out", split],
    ] {
      let run = try CLI.run(["run", spec, "--train"] + arguments)
      #expect(run.status == 0, "\(run.stderr)")
    }
    #expect(try RunCommandTests.bytes(split) == RunCommandTests.bytes(straight))
  }

  @Test func inferenceOverAFolderGivenWithInputListsItsFiles() throws {
    let folder = try Self.threeForms()
    let spec = try Self.writeSpec("{\(Self.forms[0]), scale: 0.00390625}", in: folder)
    let checkpoint = folder + "/c.safetensors"
    #expect(try CLI.run(["run", spec, "--train", "--steps", "5", "--out", checkpoint]).status == 0)
    let onTest = try CLI.run(["run", spec, "--weights", checkpoint, "--output", folder + "/a.npy"])
    #expect(onTest.status == 0, "\(onTest.stderr)")
    #expect(onTest.stdout.contains("test accuracy"))
    let onInput = try CLI.run([
      "run", spec, "--weights", checkpoint, "--input", folder + "/png/test", "--output",
      folder + "/b.npy",
    ])
    #expect(onInput.status == 0, "\(onInput.stderr)")
    #expect(onInput.stdout.contains("100 images"))
    // The same images in the same order (class folders sorted, files sorted) give the same rows.
    #expect(
      try RunCommandTests.bytes(folder + "/a.npy") == RunCommandTests.bytes(folder + "/b.npy"))
    let names = try String(contentsOfFile: folder + "/b.npy.files.txt", encoding: .utf8)
      .split(separator: "\n")
    #expect(names.count == 100)
    #expect(names.first?.hasSuffix("png/test/0/00000.png") == true)

    // A spec without train: (as `cnnc import` writes) runs --input on the values as stored: the
    // test images already scaled, as float32, give the same rows again.
    let stored = try NumPyImages(
      images: folder + "/test-x.npy", labels: nil, classes: 0)
    var scaled: [Float] = []
    var image = [Float](repeating: 0, count: 784)
    for index in 0..<stored.count {
      try stored.readValues(of: index, into: &image, scratch: DecodeScratch())
      scaled += image.map { $0 * 0.00390625 }
    }
    try Write.npy(
      descr: "<f4", shape: [stored.count, 1, 28, 28], body: Write.float32Bytes(scaled),
      to: folder + "/scaled.npy")
    let bare = Self.spec("x").components(separatedBy: "train:")[0]
    let bareSpec = folder + "/bare.yaml"
    try Data(bare.utf8).write(to: URL(fileURLWithPath: bareSpec))
    let onBare = try CLI.run([
      "run", bareSpec, "--weights", checkpoint, "--input", folder + "/scaled.npy", "--output",
      folder + "/c.npy",
    ])
    #expect(onBare.status == 0, "\(onBare.stderr)")
    #expect(onBare.stderr.contains("has no train: section; the images are used as stored"))
    #expect(
      try RunCommandTests.bytes(folder + "/c.npy") == RunCommandTests.bytes(folder + "/a.npy"))
  }

  @Test func validationHoldsOutASeededDisjointFraction() throws {
    let data = try trainingSlice(200)
    let (kept, held) = DatasetSubset.holdOut(0.1, of: data, seed: 4)
    #expect(held.count == 20 && kept.count == 180)
    #expect(Set(held.indices).isDisjoint(with: kept.indices))
    #expect(Set(held.indices + kept.indices) == Set(0..<200))
    #expect(held.indices == held.indices.sorted())
    #expect(DatasetSubset.holdOut(0.1, of: data, seed: 4).heldOut.indices == held.indices)
    #expect(DatasetSubset.holdOut(0.1, of: data, seed: 5).heldOut.indices != held.indices)

    let folder = try Self.threeForms()
    let spec = try Self.writeSpec(
      "{\(Self.forms[1]), scale: 0.00390625, validation: 0.2}", in: folder)
    let run = try CLI.run([
      "run", spec, "--train", "--epochs", "1", "--json", "--out", folder + "/v.safetensors",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stderr.contains("validation accuracy"))
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(report["validation_accuracy"] is NSNumber)
    // 240 of the 300 images train: 8 batches of 30.
    #expect(report["steps"] as? Int == 8)
  }

  @Test func cropFlipAndNormaliseAsWorkedByHand() throws {
    // One 1×3×3 image 1…9; pad 1; draw 0: top = left = −1 (shifted down and right), no flip.
    let image = LabelledImages(images: Array(1...9), labels: [0], rows: 3, columns: 3)
    let shape = Shape(channels: 1, height: 3, width: 3)
    var out = [Float](repeating: .nan, count: 9)
    let reader = SampleReader(
      Preprocessing(mean: [1], std: [2], randomCrop: .init(pad: 1), horizontalFlip: true),
      shape: shape)
    try reader.read(image, 0, draw: 0, into: &out)
    #expect(out == [0, 0, 0, 0, 1, 2, 0, 4, 5].map { ($0 - 1) / 2 })
    // Top bit set: flipped; (draw % 3) = 2 → top = +1, ((draw >> 20) % 3) = 1 → left = 0.
    let draw: UInt64 = 1 << 63 | 2 << 20 | 1
    #expect(draw % 3 == 2 && (draw >> 20) % 3 == 1)
    try reader.read(image, 0, draw: draw, into: &out)
    #expect(out == [6, 5, 4, 9, 8, 7, 0, 0, 0].map { ($0 - 1) / 2 })
    // Evaluation reads the same image unaugmented.
    try reader.read(image, 0, draw: nil, into: &out)
    #expect(out == (1...9).map { (Float($0) - 1) / 2 })
  }

  @Test func cifarRecordsChannelsLayoutAndLabels() throws {
    let folder = try Write.folder()
    // Two CIFAR-100 records: coarse 3 / fine 42, then coarse 7 / fine 99.
    var bytes: [UInt8] = []
    for (coarse, fine, fill) in [(3, 42, 10), (7, 99, 20)] as [(UInt8, UInt8, Int)] {
      bytes += [coarse, fine] + (0..<3072).map { UInt8(($0 + fill) % 251) }
    }
    try Data(bytes).write(to: URL(fileURLWithPath: folder + "/train.bin"))
    let fine = try CIFARImages(files: [folder + "/train.bin"], cifar: 100, networkClasses: 100)
    #expect(fine.count == 2 && fine.label(of: 0) == 42 && fine.label(of: 1) == 99)
    let coarse = try CIFARImages(
      files: [folder + "/train.bin"], cifar: 100, coarse: true, networkClasses: 20)
    #expect(coarse.label(of: 1) == 7)
    var values = [Float](repeating: 0, count: 3072)
    try fine.readValues(of: 1, into: &values, scratch: DecodeScratch())
    #expect(values[0] == 20 && values[1024] == Float((1024 + 20) % 251))
    // As CIFAR-10 the same 6,148 bytes are not whole records: said, with the hint.
    #expect(throws: DataError.self) {
      try CIFARImages(files: [folder + "/train.bin"], cifar: 10, networkClasses: 10)
    }
    do {
      _ = try CIFARImages(files: [folder + "/train.bin"], cifar: 10, networkClasses: 10)
    } catch {
      #expect(error.description.contains("not a whole number of CIFAR-10 records of 3073 bytes"))
      #expect(error.description.contains("give cifar: 100"))
    }
  }

  @Test func numPyChannelsLastAndFloatImages() throws {
    let folder = try Write.folder()
    // One 2×2 RGB image stored N×H×W×C as float32: value = 10·pixel + channel.
    let values = (0..<4).flatMap { pixel in (0..<3).map { Float(10 * pixel + $0) } }
    try Write.npy(
      descr: "<f4", shape: [1, 2, 2, 3], body: Write.float32Bytes(values), to: folder + "/x.npy")
    try Write.npy(descr: "<u2", shape: [1], body: [4, 0], to: folder + "/y.npy")
    let data = try NumPyImages(
      images: folder + "/x.npy", labels: folder + "/y.npy", layout: .nhwc, classes: 10)
    #expect(data.imageShape == Shape(channels: 3, height: 2, width: 2) && data.label(of: 0) == 4)
    var planes = [Float](repeating: 0, count: 12)
    try data.readValues(of: 0, into: &planes, scratch: DecodeScratch())
    #expect(planes == [0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32])
  }

  @Test func jpegAndRGBImagesDecodeToTheInputsChannels() throws {
    let folder = try Write.folder()
    try Write.makeFolder(folder + "/a")
    // A smooth grey ramp survives JPEG at quality 95 within a few levels.
    let ramp = (0..<(28 * 28)).map { UInt8(($0 % 28) * 9) }
    try Write.jpeg(ramp, height: 28, width: 28, to: folder + "/a/ramp.jpg")
    // An RGB PNG of pure red becomes grey by libpng's colour conversion, the same every time.
    try Write.png(
      [UInt8]((0..<(28 * 28)).flatMap { _ in [255, 0, 0] as [UInt8] }), height: 28, width: 28,
      channels: 3, to: folder + "/a/red.png")
    let data = try ImageFolder(classes: folder, shape: Shape(channels: 1, height: 28, width: 28))
    #expect(data.files.map { ($0 as NSString).lastPathComponent } == ["ramp.jpg", "red.png"])
    var values = [Float](repeating: 0, count: 28 * 28)
    let scratch = DecodeScratch()
    try data.readValues(of: 0, into: &values, scratch: scratch)
    let worst = zip(values, ramp).map { abs($0 - Float($1)) }.max() ?? .infinity
    #expect(worst <= 6, "JPEG ramp off by \(worst)")
    try data.readValues(of: 1, into: &values, scratch: scratch)
    #expect(Set(values).count == 1 && values[0] > 0 && values[0] < 255, "\(values[0])")
    // Resizing: a 14×14 image read as 28×28.
    try Write.png(
      [UInt8](repeating: 77, count: 14 * 14), height: 14, width: 14, to: folder + "/a/small.png")
    #expect(throws: DataError.self) {
      try ImageFolder(classes: folder, shape: Shape(channels: 1, height: 28, width: 28))
    }
    let resized = try ImageFolder(
      classes: folder, shape: Shape(channels: 1, height: 28, width: 28),
      resize: Pair(height: 28, width: 28))
    try resized.readValues(of: 2, into: &values, scratch: scratch)
    #expect(values.allSatisfy { $0 == 77 })
  }

  /// Links back into the folder being walked (`0/loop -> ..`, in two classes: once walked
  /// about 2^40 paths) and a second link to one folder are refused at once, naming both paths;
  /// a link to a folder outside the walk is followed.
  @Test func folderWalksEnterEachFolderOnce() throws {
    let shape = Shape(channels: 1, height: 2, width: 2)
    let folder = try Write.folder()
    for name in ["0", "1"] {
      try Write.makeFolder(folder + "/" + name)
      try Write.png([1, 2, 3, 4], height: 2, width: 2, to: folder + "/\(name)/a.png")
    }
    let outside = try Write.folder()
    try Write.png([5, 6, 7, 8], height: 2, width: 2, to: outside + "/b.png")
    try FileManager.default.createSymbolicLink(
      atPath: folder + "/1/more", withDestinationPath: outside)
    #expect(try ImageFolder(classes: folder, shape: shape).count == 3)
    #expect(try ImageFolder(unlabelled: folder, shape: shape).count == 3)

    for (link, target) in [("0/loop", ".."), ("1/loop", ".."), ("0/again", outside)] {
      try FileManager.default.createSymbolicLink(
        atPath: folder + "/" + link, withDestinationPath: target)
    }
    let classes = #expect(throws: DataError.self) {
      _ = try ImageFolder(classes: folder, shape: shape)
    }
    #expect(classes?.description.contains("again (a link back into the walk)") == true)
    let unlabelled = #expect(throws: DataError.self) {
      _ = try ImageFolder(unlabelled: folder, shape: shape)
    }
    #expect(unlabelled?.description.contains("again (a link back into the walk)") == true)
  }
}

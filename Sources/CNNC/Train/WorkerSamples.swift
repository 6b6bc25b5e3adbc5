/// One worker's samples, read ahead: after its step a worker reads its share of the next batch
/// into these buffers (decoding images there, on its own thread, while the other workers may
/// still be computing), and the next step copies them into its executor's input. The buffers are
/// made once, so reading ahead allocates nothing (PNG included; libjpeg-turbo allocates its
/// own state for each JPEG).
final class WorkerSamples {
  /// Which batch the buffers hold.
  struct Position: Equatable {
    var epoch: Int
    var batchInEpoch: Int
  }

  private let reader: SampleReader
  private let valuesPerImage: Int
  private var values: [Float]
  private var labels: [Int32]
  private var count = 0
  private var position: Position?
  /// Why the staged batch could not be read; thrown when it is delivered, so that an image
  /// found corrupt ahead of time stops the step that needs it, not the one before.
  private var failure: DataError?

  init(_ preprocessing: Preprocessing, shape: Shape, capacity: Int) {
    reader = SampleReader(preprocessing, shape: shape)
    valuesPerImage = shape.channels * shape.height * shape.width
    values = [Float](repeating: 0, count: capacity * valuesPerImage)
    labels = [Int32](repeating: 0, count: capacity)
  }

  func holds(_ wanted: Position) -> Bool { position == wanted }

  /// Reads `samples` of `data`, augmented with `seed` and the position's epoch when the
  /// preprocessing says so; a failure is kept for `deliver`.
  func stage(_ data: any ImageDataset, _ samples: ArraySlice<Int>, at position: Position, seed: Int)
  {
    self.position = position
    failure = nil
    count = samples.count
    let augments = reader.preprocessing.augments
    values.withUnsafeMutableBufferPointer { values in
      for (row, sample) in samples.enumerated() {
        let draw =
          augments ? augmentationDraw(seed: seed, epoch: position.epoch, sample: sample) : nil
        do throws(DataError) {
          try reader.read(
            data, sample, draw: draw, into: values.baseAddress! + row * valuesPerImage)
        } catch {
          failure = error
          return
        }
        labels[row] = Int32(data.label(of: sample))
      }
    }
  }

  /// Copies the staged samples into `executor`'s input and labels.
  func deliver(to executor: Executor) throws(DataError) {
    if let failure { throw failure }
    guard let input = executor.input.baseAddress else { return }
    values.withUnsafeBufferPointer { values in
      input.update(from: values.baseAddress!, count: count * valuesPerImage)
    }
    for row in 0..<count { executor.labels?[row] = labels[row] }
  }
}

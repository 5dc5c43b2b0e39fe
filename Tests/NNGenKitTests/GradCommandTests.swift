import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import NNGenKit
import Reference
import XCTest

/// `computeGradients` (what `nngen grad` runs): the file it writes, its values against the
/// reference interpreter, and its error messages.
final class GradCommandTests: XCTestCase {
    func iris() throws -> ModelAnalysis {
        try analyzeTestModel("grad_iris", input: .features(4), batch: 3, loss: .softmaxCrossEntropy,
                    [.dense(units: 5), .activation(.tanh), .dense(units: 3)])
    }

    func sequenceModel() throws -> ModelAnalysis {
        try analyzeTestModel("grad_seq", input: .sequence(length: 6, channels: 2), batch: 2, loss: .mse,
                    [.conv1d(filters: 3, kernel: 3, padding: .same), .activation(.gelu), .layerNorm(), .flatten, .dense(units: 2)])
    }

    /// Writes the model's initial parameters (seed 7) and a synthetic batch; returns their paths.
    func writeInputs(_ a: ModelAnalysis, in dir: URL, parameterDType: DType = .f64,
                     labelDType: DType = .i64) throws -> (params: String, batch: String, values: [Double], data: SyntheticBatch) {
        let values = ReferenceInterpreter(a).initialParameters(seed: 7)
        let params = try SafetensorsFile(tensors: a.parameters.map {
            try Tensor(name: $0.name, shape: $0.shape, doubles: Array(values[$0.offset..<($0.offset + $0.count)]),
                       dtype: parameterDType)
        } + [try Tensor(name: "optimizer.step", shape: [], ints: [3])])  // extra tensors are ignored
        let paramsURL = dir.appendingPathComponent("params.safetensors")
        try params.write(to: paramsURL)
        let data = SyntheticBatch(a, seed: 11)
        let xShape = [a.model.batch] + a.model.input.shape.dimensions
        var tensors = [try Tensor(name: "x", shape: xShape, doubles: data.x)]
        if let labels = data.labels {
            tensors.append(try Tensor(name: "y", shape: [a.model.batch], ints: labels, dtype: labelDType))
        } else {
            tensors.append(try Tensor(name: "y", shape: [a.model.batch, a.outputCount], doubles: data.values ?? []))
        }
        let batchURL = dir.appendingPathComponent("batch.safetensors")
        try SafetensorsFile(tensors: tensors).write(to: batchURL)
        return (paramsURL.path, batchURL.path, values, data)
    }

    /// `nngen grad` on a model with frozen layers gives every gradient (and the input's) as if
    /// nothing were frozen: it is a diagnostic of the math, not of what training updates.
    func testFrozenModelsGetEveryGradient() throws {
        let plain = try iris()
        var m = plain.model
        m.trainable = ["layers[0]": .frozen]
        let frozen = try m.analyze()
        let dir = try scratchDirectory(self, "nngen-grad-frozen")
        let (params, batch, _, _) = try writeInputs(plain, in: dir)
        let a = try computeGradients(frozen, parametersFile: params, batchFile: batch,
                                     outputFile: dir.appendingPathComponent("a.safetensors").path,
                                     engine: .generated(TCCBackend(), .f64))
        let b = try computeGradients(plain, parametersFile: params, batchFile: batch,
                                     outputFile: dir.appendingPathComponent("b.safetensors").path,
                                     engine: .generated(TCCBackend(), .f64))
        XCTAssertEqual(a.gradients, b.gradients)
        XCTAssertEqual(a.input, b.input)
        XCTAssertTrue(a.gradients["layers.0.weight"]?.contains { $0 != 0 } ?? false)
    }

    func testGeneratedFloat64MatchesTheReferenceAndWritesEveryTensor() throws {
        for a in [try iris(), try sequenceModel()] {
            let dir = try scratchDirectory(self, "nngen-grad")
            let (params, batch, values, data) = try writeInputs(a, in: dir, labelDType: .i32)
            let out = dir.appendingPathComponent("grads.safetensors").path
            let refOut = dir.appendingPathComponent("ref.safetensors").path
            for backend in [TCCBackend() as any CBackend, CCBackend()] {
                let r = try computeGradients(a, parametersFile: params, batchFile: batch, outputFile: out,
                                             engine: .generated(backend, .f64))
                let ref = try computeGradients(a, parametersFile: params, batchFile: batch, outputFile: refOut,
                                               engine: .reference)
                // What was written is what was returned, in F64, with the documented names and shapes.
                let file = try SafetensorsFile.read(from: URL(fileURLWithPath: out))
                XCTAssertEqual(file.names, ["loss"] + a.parameters.map(\.name) + ["input"])
                XCTAssertEqual(file["loss"]?.shape, [])
                XCTAssertEqual(file["input"]?.shape, [a.model.batch] + a.model.input.shape.dimensions)
                XCTAssertEqual(Set(file.orderedTensors.map(\.dtype)), [.f64])
                XCTAssertEqual(file.metadata["engine"], backend.name)
                XCTAssertEqual(file.metadata["dtype"], "f64")
                XCTAssertEqual(file.metadata["model"], a.model.name)
                for p in a.parameters { XCTAssertEqual(file[p.name]?.shape, p.shape, p.name) }
                XCTAssertEqual(file["loss"]?.asDoubles(), [r.loss])
                XCTAssertEqual(file["input"]?.asDoubles(), r.input)
                // Against the reference interpreter run directly, and against --reference.
                let direct = try ReferenceInterpreter(a).gradients(parameters: values, input: data.x,
                                                                    targets: data.targets, inputGradient: true)
                XCTAssertEqual(ref.loss, direct.loss)
                XCTAssertEqual(abs(r.loss - direct.loss), 0, accuracy: 1e-10)
                for p in a.parameters {
                    let expected = Array(direct.parameters[p.offset..<(p.offset + p.count)])
                    XCTAssertEqual(ref.gradients[p.name], expected)
                    let got = try XCTUnwrap(file[p.name]?.asDoubles())
                    XCTAssertEqual(got.count, expected.count)
                    for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 1e-10, "\(a.model.name) \(p.name)") }
                }
                for (g, e) in zip(r.input, direct.input ?? []) { XCTAssertEqual(g, e, accuracy: 1e-10, "input") }
                XCTAssertEqual(r.input.count, a.inputElements)
                let refFile = try SafetensorsFile.read(from: URL(fileURLWithPath: refOut))
                XCTAssertEqual(Set(refFile.orderedTensors.map(\.dtype)), [.f64])
                XCTAssertEqual(refFile.metadata["engine"], "reference")
                XCTAssertEqual(refFile["input"]?.asDoubles(), direct.input)
            }
        }
    }

    func testFloat32RunWritesF32CloseToTheReference() throws {
        let a = try iris()
        let dir = try scratchDirectory(self, "nngen-grad32")
        // float32 parameters in the file are read as they are.
        let (params, batch, _, _) = try writeInputs(a, in: dir, parameterDType: .f32)
        let out = dir.appendingPathComponent("g32.safetensors").path
        let r = try computeGradients(a, parametersFile: params, batchFile: batch, outputFile: out,
                                     engine: .generated(TCCBackend(), .f32))
        let ref = try computeGradients(a, parametersFile: params, batchFile: batch,
                                       outputFile: dir.appendingPathComponent("r.safetensors").path, engine: .reference)
        let file = try SafetensorsFile.read(from: URL(fileURLWithPath: out))
        XCTAssertEqual(Set(file.orderedTensors.map(\.dtype)), [.f32])
        XCTAssertEqual(file.metadata["dtype"], "f32")
        XCTAssertEqual(r.loss, ref.loss, accuracy: 1e-5 * abs(ref.loss))
        for p in a.parameters {
            let got = try XCTUnwrap(file[p.name]?.asDoubles()), want = try XCTUnwrap(ref.gradients[p.name])
            let scale = want.map(abs).max() ?? 1
            for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-4 * scale, p.name) }
        }
    }

    // MARK: errors

    /// Runs with the files as given and returns the error message.
    func message(_ a: ModelAnalysis, params: String, batch: String, in dir: URL) -> String {
        do {
            try computeGradients(a, parametersFile: params, batchFile: batch,
                                 outputFile: dir.appendingPathComponent("out.safetensors").path,
                                 engine: .generated(TCCBackend(), .f64))
            XCTFail("expected an error")
            return ""
        } catch {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.safetensors").path))
            return "\(error)"
        }
    }

    func write(_ tensors: [Tensor], _ name: String, in dir: URL) throws -> String {
        let url = dir.appendingPathComponent(name)
        try SafetensorsFile(tensors: tensors).write(to: url)
        return url.path
    }

    func testParameterErrorsNameTheFileTensorAndExpectedShape() throws {
        let a = try iris()
        let dir = try scratchDirectory(self, "nngen-grad-err")
        let (params, batch, values, _) = try writeInputs(a, in: dir)
        let w0 = Array(values[0..<20])
        let rest = try a.parameters.dropFirst().map {
            try Tensor(name: $0.name, shape: $0.shape, doubles: Array(values[$0.offset..<($0.offset + $0.count)]))
        }
        // Missing.
        let missing = try write(rest, "missing.safetensors", in: dir)
        XCTAssertEqual(message(a, params: missing, batch: batch, in: dir),
                       "\(missing): no tensor 'layers.0.weight'; model grad_iris needs every parameter by name, this one "
                       + "with shape [5, 4] (it holds 'layers.0.bias', 'layers.2.weight', 'layers.2.bias')")
        // Transposed.
        let transposed = try write([try Tensor(name: "layers.0.weight", shape: [4, 5], doubles: w0)] + rest,
                                   "transposed.safetensors", in: dir)
        XCTAssertEqual(message(a, params: transposed, batch: batch, in: dir),
                       "\(transposed): tensor 'layers.0.weight' has shape [4, 5]; model grad_iris expects [5, 4]")
        // Integers.
        let ints = try write([try Tensor(name: "layers.0.weight", shape: [5, 4], ints: Array(repeating: 1, count: 20))] + rest,
                             "ints.safetensors", in: dir)
        XCTAssertEqual(message(a, params: ints, batch: batch, in: dir),
                       "\(ints): tensor 'layers.0.weight' is I64; parameters must be F32 or F64")
        // Not a file.
        let nowhere = dir.appendingPathComponent("nowhere.safetensors").path
        let m = message(a, params: nowhere, batch: batch, in: dir)
        XCTAssertTrue(m.hasPrefix("\(nowhere): cannot read the file"), m)
        _ = params
    }

    func testBatchErrorsNameTheFileTensorAndExpectedShape() throws {
        let a = try iris()
        let dir = try scratchDirectory(self, "nngen-grad-batch")
        let (params, _, _, data) = try writeInputs(a, in: dir)
        let x = try Tensor(name: "x", shape: [3, 4], doubles: data.x)
        let y = try Tensor(name: "y", shape: [3], ints: [0, 1, 2])

        let noX = try write([y], "nox.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: noX, in: dir),
                       "\(noX): no tensor 'x'; expected the inputs with shape [3, 4] (batch 3 x 4 features)")
        let shortX = try write([try Tensor(name: "x", shape: [2, 4], doubles: Array(data.x[0..<8])), y], "short.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: shortX, in: dir),
                       "\(shortX): tensor 'x' has shape [2, 4]; model grad_iris expects [3, 4] (batch 3 x 4 features)")
        let noY = try write([x], "noy.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: noY, in: dir),
                       "\(noY): no tensor 'y'; expected shape [3] (3 integer class labels in 0..<3 for softmax_cross_entropy)")
        let oneHot = try write([x, try Tensor(name: "y", shape: [3, 3], doubles: [1, 0, 0, 0, 1, 0, 0, 0, 1])],
                               "onehot.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: oneHot, in: dir),
                       "\(oneHot): tensor 'y' has shape [3, 3]; model grad_iris expects [3] "
                       + "(3 integer class labels in 0..<3 for softmax_cross_entropy)")
        let floatLabels = try write([x, try Tensor(name: "y", shape: [3], doubles: [0, 1, 2], dtype: .f32)],
                                    "floatlabels.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: floatLabels, in: dir),
                       "\(floatLabels): tensor 'y' is F32; softmax_cross_entropy needs integer labels (I32 or I64) in 0..<3")
        let badLabel = try write([x, try Tensor(name: "y", shape: [3], ints: [0, 3, 1])], "badlabel.safetensors", in: dir)
        XCTAssertEqual(message(a, params: params, batch: badLabel, in: dir),
                       "\(badLabel): y[1] = 3 is not a class of model grad_iris; labels must be in 0..<3")

        // A regression model: y is [B, outputs] floats; x of a sequence model is [B, L, C].
        let s = try sequenceModel()
        let (sParams, _, _, sData) = try writeInputs(s, in: dir)
        let flatX = try write([try Tensor(name: "x", shape: [2, 12], doubles: sData.x),
                               try Tensor(name: "y", shape: [2, 2], doubles: [0, 0, 0, 0])], "flat.safetensors", in: dir)
        XCTAssertEqual(message(s, params: sParams, batch: flatX, in: dir),
                       "\(flatX): tensor 'x' has shape [2, 12]; model grad_seq expects [2, 6, 2] "
                       + "(batch 2 x 6 positions x 2 channels)")
        let sx = try Tensor(name: "x", shape: [2, 6, 2], doubles: sData.x)
        let flatY = try write([sx, try Tensor(name: "y", shape: [4], doubles: [0, 0, 0, 0])], "flaty.safetensors", in: dir)
        XCTAssertEqual(message(s, params: sParams, batch: flatY, in: dir),
                       "\(flatY): tensor 'y' has shape [4]; model grad_seq expects [2, 2] (2 rows of 2 target values for mse)")
        let intY = try write([sx, try Tensor(name: "y", shape: [2, 2], ints: [0, 1, 0, 1])], "inty.safetensors", in: dir)
        XCTAssertEqual(message(s, params: sParams, batch: intY, in: dir),
                       "\(intY): tensor 'y' is I64; mse targets must be F32 or F64")
        let intX = try write([try Tensor(name: "x", shape: [2, 6, 2], ints: Array(repeating: 1, count: 24), dtype: .i32),
                              try Tensor(name: "y", shape: [2, 2], doubles: [0, 0, 0, 0])], "intx.safetensors", in: dir)
        XCTAssertEqual(message(s, params: sParams, batch: intX, in: dir),
                       "\(intX): tensor 'x' is I32; inputs must be F32 or F64")
    }

    func testUnwritableOutputNamesTheFile() throws {
        let a = try iris()
        let dir = try scratchDirectory(self, "nngen-grad-out")
        let (params, batch, _, _) = try writeInputs(a, in: dir)
        let out = dir.appendingPathComponent("no/such/dir/g.safetensors").path
        XCTAssertThrowsError(try computeGradients(a, parametersFile: params, batchFile: batch, outputFile: out,
                                                  engine: .reference)) { error in
            XCTAssertTrue("\(error)".hasPrefix(out + ": cannot write the file"), "\(error)")
        }
    }
}

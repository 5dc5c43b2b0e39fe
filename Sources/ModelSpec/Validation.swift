import Foundation

extension Model {
    /// Checks the model and works out every shape, parameter and cost.
    ///
    /// - Parameter file: the model file, named in the error if there is one.
    /// - Throws: `ModelSpecError` listing every problem found, each with its place
    ///   (`layers[3].layers[1] (conv1d)`), what is wrong and what would be right.
    public func analyze(file: String? = nil) throws -> ModelAnalysis {
        var checker = Checker(model: self)
        let result = checker.run()
        if !checker.issues.isEmpty || result == nil {
            throw ModelSpecError(file: file, issues: checker.issues)
        }
        var analysis = result!
        analysis.file = file
        return analysis
    }

    /// Every problem in the model, or an empty list when it is valid.
    public func validate() -> [ModelIssue] {
        var checker = Checker(model: self)
        _ = checker.run()
        return checker.issues
    }

    /// Whether `name` can be used as a model name (a C identifier of at most 64 characters).
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= ModelLimits.maxNameLength else { return false }
        for (i, c) in name.utf8.enumerated() {
            let letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95
            let digit = c >= 48 && c <= 57
            if !(letter || (i > 0 && digit)) { return false }
        }
        return true
    }
}

/// Walks a model once, collecting issues and building the analysis.
private struct Checker {
    let model: Model
    var issues: [ModelIssue] = []
    var layers: [LayerInfo] = []
    var parameters: [ParameterInfo] = []
    var offset = 0
    var totalElements = 0

    init(model: Model) { self.model = model }

    mutating func issue(_ place: String, _ message: String) {
        issues.append(ModelIssue(place: place, message: message))
    }

    mutating func run() -> ModelAnalysis? {
        checkModelFields()
        checkOptimizer()
        let inputShape = checkInput()
        if model.layers.isEmpty {
            issue("layers", "a model needs at least one layer, e.g. {\"type\": \"dense\", \"units\": 10}")
        }
        let output = walk(model.layers, from: inputShape, pathPrefix: "", namePrefix: "", depth: 0)
        if let output { checkLoss(output) }
        if issues.isEmpty { checkTrainable() }
        guard issues.isEmpty, let output else { return nil }
        return ModelAnalysis(model: model, layers: layers, parameters: parameters, outputShape: output)
    }

    /// Checks `Model.trainable` against the layers and marks each parameter trainable or frozen,
    /// giving the trainable ones their offsets in the flat gradient array.
    mutating func checkTrainable() {
        for (path, setting) in model.trainable.sorted(by: { $0.key < $1.key }) {
            guard let l = layers.first(where: { $0.path == path }) else {
                issue("trainable", "no layer at \"\(Messages.shown(path))\"; layer paths look like layers[0] or layers[2].layers[1]")
                continue
            }
            let held = layers.filter { $0.path == path || $0.path.hasPrefix(path + ".") }.flatMap(\.parameters)
            switch setting {
            case .biasOnly where !held.contains(where: { $0.role == .bias }):
                issue(l.label, "\"trainable\": \"bias\" but the layer has no bias; use true or false")
            case .weightOnly where !held.contains(where: { $0.role == .weight }):
                issue(l.label, "\"trainable\": \"weight\" but the layer has no weight; use true or false")
            default: break
            }
        }
        var at = 0
        for i in parameters.indices {
            let t = model.trainability(ofLayerAt: parameters[i].layerPath).trains(parameters[i].role)
            parameters[i].trainable = t
            parameters[i].gradientOffset = t ? at : nil
            if t { at += parameters[i].count }
        }
        if !parameters.isEmpty && at == 0 {
            issue("trainable", "nothing is trainable: every parameter is frozen (\"trainable\": false); "
                  + "let at least one layer train, e.g. the last dense layer")
        }
        let byName = Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for i in layers.indices {
            layers[i].parameters = layers[i].parameters.map { byName[$0.name] ?? $0 }
        }
    }

    mutating func checkModelFields() {
        if !Model.isValidName(model.name) {
            issue("name", "\"\(Messages.shown(model.name))\" is not a valid model name: it must be a C identifier "
                  + "([A-Za-z_][A-Za-z0-9_]*) of 1 to \(ModelLimits.maxNameLength) characters, e.g. \"digits_mlp\"")
        }
        if model.batch < 1 {
            issue("batch", "batch must be at least 1 (got \(model.batch))")
        } else if model.batch > ModelLimits.maxElements {
            issue("batch", "batch \(model.batch) is too large (at most \(ModelLimits.maxElements))")
        }
    }

    mutating func checkInput() -> Shape? {
        switch model.input {
        case .features(let f):
            guard f >= 1 else {
                issue("input", "features must be at least 1 (got \(f))")
                return nil
            }
            guard noteTensor("input", model.batch, f) else { return nil }
        case .sequence(let l, let c):
            var ok = true
            if l < 1 { issue("input", "length must be at least 1 (got \(l))"); ok = false }
            if c < 1 { issue("input", "channels must be at least 1 (got \(c))"); ok = false }
            guard ok, noteTensor("input", model.batch, l, c) else { return nil }
        }
        return model.input.shape
    }

    /// Records a tensor's size; false (with an issue) if it passes the limits.
    mutating func noteTensor(_ place: String, _ dims: Int...) -> Bool {
        guard model.batch >= 1 else { return false }
        var n = 1
        for d in dims {
            let (p, o) = n.multipliedReportingOverflow(by: max(d, 0))
            if o || p > ModelLimits.maxElements {
                issue(place, "a tensor of shape \(dims) would have more than \(ModelLimits.maxElements) elements; "
                      + "make the layer or the batch smaller")
                return false
            }
            n = p
        }
        let (t, o) = totalElements.addingReportingOverflow(n)
        if o || t > ModelLimits.maxElements {
            issue(place, "the model's tensors together would pass \(ModelLimits.maxElements) elements; "
                  + "make the layers or the batch smaller")
            totalElements = ModelLimits.maxElements
            return false
        }
        totalElements = t
        return true
    }

    mutating func checkOptimizer() {
        func positive(_ name: String, _ v: Double) {
            if !(v.isFinite && v > 0) { issue("optimizer", "\(name) must be a finite number above 0 (got \(v))") }
        }
        func nonNegative(_ name: String, _ v: Double) {
            if !(v.isFinite && v >= 0) { issue("optimizer", "\(name) must be a finite number >= 0 (got \(v))") }
        }
        func beta(_ name: String, _ v: Double) {
            if !(v.isFinite && v >= 0 && v < 1) { issue("optimizer", "\(name) must be in [0, 1) (got \(v))") }
        }
        switch model.optimizer {
        case .sgd(let lr, let momentum, let nesterov, let wd):
            positive("lr", lr)
            nonNegative("momentum", momentum)
            nonNegative("weight_decay", wd)
            if nesterov && !(momentum > 0) {
                issue("optimizer", "nesterov needs momentum above 0 (got momentum \(momentum)); set \"momentum\": 0.9 or \"nesterov\": false")
            }
        case .adam(let lr, let b1, let b2, let eps, let wd), .adamw(let lr, let b1, let b2, let eps, let wd):
            positive("lr", lr)
            beta("beta1", b1)
            beta("beta2", b2)
            nonNegative("eps", eps)
            nonNegative("weight_decay", wd)
        }
    }

    mutating func checkLoss(_ output: Shape) {
        if case .huber(let delta) = model.loss, !(delta.isFinite && delta > 0) {
            issue("loss (huber)", "delta must be a finite number above 0 (got \(delta))")
        }
        guard case .vector(let n) = output else {
            issue("loss", "\(model.loss.typeName) needs a vector output but the last layer gives \(output) "
                  + "(positions x channels); add {\"type\": \"flatten\"} or {\"type\": \"global_avg_pool1d\"} "
                  + "and a dense layer before the loss")
            return
        }
        if model.loss == .softmaxCrossEntropy && n < 2 {
            issue("loss", "softmax_cross_entropy needs 2 or more outputs (one per class) but the model gives \(n); "
                  + "for two classes with one output use bce_with_logits")
        }
    }

    /// Shape inference through a list of layers; nil once a shape cannot be worked out.
    mutating func walk(_ list: [Layer], from start: Shape?, pathPrefix: String, namePrefix: String,
                       depth: Int) -> Shape? {
        var shape = start
        for (i, layer) in list.enumerated() {
            let path = "\(pathPrefix)layers[\(i)]"
            let names = "\(namePrefix)layers.\(i)"
            let label = "\(path) (\(layer.typeName))"
            let fieldsOK = checkFields(layer, label)
            guard let input = shape else {
                // Keep checking fields of the rest, and nested blocks, without shapes.
                if case .residual(let body) = layer {
                    _ = walk(body, from: nil, pathPrefix: path + ".", namePrefix: names + ".", depth: depth + 1)
                }
                continue
            }
            guard fieldsOK else {
                if case .residual(let body) = layer {
                    _ = walk(body, from: nil, pathPrefix: path + ".", namePrefix: names + ".", depth: depth + 1)
                }
                shape = nil
                continue
            }
            shape = infer(layer, input: input, label: label, path: path, names: names, depth: depth)
        }
        return shape
    }

    /// Checks a layer's own options (independent of shapes); false if any is wrong.
    mutating func checkFields(_ layer: Layer, _ label: String) -> Bool {
        let before = issues.count
        func atLeast1(_ name: String, _ v: Int) {
            if v < 1 { issue(label, "\(name) must be at least 1 (got \(v))") }
        }
        switch layer {
        case .dense(let units, _):
            atLeast1("units", units)
        case .conv1d(let filters, let kernel, let stride, let padding, let dilation, _):
            atLeast1("filters", filters)
            atLeast1("kernel", kernel)
            atLeast1("stride", stride)
            atLeast1("dilation", dilation)
            if case .explicit(let p) = padding, p < 0 {
                issue(label, "padding must be >= 0, \"same\" or \"valid\" (got \(p))")
            }
            if padding == .same && stride > 1 {
                issue(label, "padding \"same\" works only with stride 1 (got stride \(stride)); "
                      + "use an integer padding or \"valid\"")
            }
        case .layerNorm(let eps, _):
            if !(eps.isFinite && eps > 0) { issue(label, "eps must be a finite number above 0 (got \(eps))") }
        case .activation(.leakyReLU(let slope)):
            if !slope.isFinite { issue(label, "negative_slope must be a finite number (got \(slope))") }
        case .maxPool1d(let kernel, let stride), .avgPool1d(let kernel, let stride):
            atLeast1("kernel", kernel)
            // The stride defaults to the kernel: one message for a bad kernel is enough.
            if kernel >= 1 || stride != kernel { atLeast1("stride", stride) }
        case .residual(let body):
            if body.isEmpty {
                issue(label, "a residual block needs at least one layer in \"layers\"")
            }
        case .activation, .globalAvgPool1d, .flatten:
            break
        }
        return issues.count == before
    }

    mutating func addParameter(_ names: String, _ path: String, _ role: ParameterRole, _ shape: [Int],
                               _ initializer: ParameterInit, _ label: String) -> ParameterInfo? {
        guard let count = checkedProduct(shape), count <= ModelLimits.maxElements else {
            issue(label, "parameter \(names).\(role.rawValue) of shape \(shape) is too large; make the layer smaller")
            return nil
        }
        // Parameters, gradients and optimizer state each take this many elements.
        guard noteTensor(label, count) else { return nil }
        let p = ParameterInfo(name: "\(names).\(role.rawValue)", shape: shape, count: count, offset: offset,
                              role: role, layerPath: path, initializer: initializer)
        offset += count
        parameters.append(p)
        return p
    }

    mutating func infer(_ layer: Layer, input: Shape, label: String, path: String, names: String,
                        depth: Int) -> Shape? {
        let b = model.batch
        var params: [ParameterInfo] = []
        var flops = 0
        let output: Shape
        let index = layers.count
        switch layer {
        case .dense(let units, let bias):
            guard case .vector(let inF) = input else {
                issue(label, "dense needs a vector input but gets \(input) (positions x channels); "
                      + "add {\"type\": \"flatten\"} or {\"type\": \"global_avg_pool1d\"} before it")
                return nil
            }
            guard noteTensor(label, b, units) else { return nil }
            let bound = 1 / Double(inF).squareRoot()
            guard let w = addParameter(names, path, .weight, [units, inF], .uniform(bound: bound), label) else { return nil }
            params.append(w)
            if bias {
                guard let bb = addParameter(names, path, .bias, [units], .uniform(bound: bound), label) else { return nil }
                params.append(bb)
            }
            guard let f = checkedProduct(2, b, inF, units) else { issue(label, "too many FLOPs to count"); return nil }
            flops = f
            output = .vector(units)
        case .conv1d(let filters, let kernel, let stride, let padding, let dilation, let bias):
            guard case .sequence(let len, let ch) = input else {
                issue(label, "conv1d needs a sequence input [length, channels] but gets \(input); "
                      + "use a sequence input {\"length\": L, \"channels\": C} or a dense layer")
                return nil
            }
            guard let span = checkedProduct(dilation, kernel - 1) else {
                issue(label, "dilation x (kernel - 1) is too large"); return nil
            }
            let pads = padding.amounts(kernel: kernel, dilation: dilation)
            let (padded, o1) = len.addingReportingOverflow(pads.left)
            let (padded2, o2) = padded.addingReportingOverflow(pads.right)
            guard !o1, !o2 else { issue(label, "padding is too large"); return nil }
            let reach = padded2 - span - 1
            guard reach >= 0 else {
                issue(label, "the output would be shorter than 1 position: input length \(len) with padding "
                      + "\(pads.left)+\(pads.right) is shorter than the kernel's span \(span + 1) "
                      + "(dilation*(kernel-1)+1); use a smaller kernel or dilation, or more padding")
                return nil
            }
            let outLen = reach / stride + 1
            guard noteTensor(label, b, outLen, filters) else { return nil }
            guard let fanIn = checkedProduct(ch, kernel) else { issue(label, "in_channels x kernel is too large"); return nil }
            let bound = 1 / Double(fanIn).squareRoot()
            guard let w = addParameter(names, path, .weight, [filters, ch, kernel], .uniform(bound: bound), label) else { return nil }
            params.append(w)
            if bias {
                guard let bb = addParameter(names, path, .bias, [filters], .uniform(bound: bound), label) else { return nil }
                params.append(bb)
            }
            guard let f = checkedProduct(2, b, outLen, filters, ch, kernel) else { issue(label, "too many FLOPs to count"); return nil }
            flops = f
            output = .sequence(length: outLen, channels: filters)
        case .layerNorm(_, let affine):
            let c = input.lastAxis
            if c < 2 {
                issue(label, "layernorm over a last axis of \(c) element always gives 0; it needs 3 or more "
                      + "features (or channels); remove it or put it after a wider layer")
                return nil
            }
            if c == 2 {
                // (a - m) / sqrt(((a - b) / 2)^2 + eps) is +-1 whatever a and b: every gradient
                // through it is rounding noise (docs/CONVENTIONS.md, Layers, Normalisation).
                issue(label, "layernorm over a last axis of 2 elements gives +-1 whatever the input, so no "
                      + "gradient passes through it; it needs 3 or more features (or channels); remove it or "
                      + "put it after a wider layer")
                return nil
            }
            guard noteTensor(label, b, input.elementCount) else { return nil }
            if affine {
                guard let w = addParameter(names, path, .weight, [c], .constant(1), label),
                      let bb = addParameter(names, path, .bias, [c], .constant(0), label) else { return nil }
                params += [w, bb]
            }
            output = input
        case .activation:
            guard noteTensor(label, b, input.elementCount) else { return nil }
            output = input
        case .maxPool1d(let kernel, let stride), .avgPool1d(let kernel, let stride):
            guard case .sequence(let len, let ch) = input else {
                issue(label, "\(layer.typeName) needs a sequence input [length, channels] but gets \(input)")
                return nil
            }
            guard kernel <= len else {
                issue(label, "the output would be shorter than 1 position: kernel \(kernel) is longer than the "
                      + "input length \(len); use a kernel of at most \(len)")
                return nil
            }
            let outLen = (len - kernel) / stride + 1
            guard noteTensor(label, b, outLen, ch) else { return nil }
            output = .sequence(length: outLen, channels: ch)
        case .globalAvgPool1d:
            guard case .sequence(_, let ch) = input else {
                issue(label, "global_avg_pool1d needs a sequence input [length, channels] but gets \(input)")
                return nil
            }
            guard noteTensor(label, b, ch) else { return nil }
            output = .vector(ch)
        case .flatten:
            guard noteTensor(label, b, input.elementCount) else { return nil }
            output = .vector(input.elementCount)
        case .residual(let body):
            // The block's entry comes first; its body's layers follow it.
            layers.append(LayerInfo(path: path, parameterPrefix: names, depth: depth, layer: layer, input: input,
                                    output: input, parameters: [], forwardFLOPs: 0))
            let start = layers.count
            let out = walk(body, from: input, pathPrefix: path + ".", namePrefix: names + ".", depth: depth + 1)
            guard let out else { return nil }
            guard out == input else {
                issue(label, "the body of a residual block must give back its input's shape \(input) but gives "
                      + "\(out); end the block with a layer of \(input.lastAxis) units/filters")
                return nil
            }
            guard noteTensor(label, b, input.elementCount) else { return nil }
            let bodyFlops = layers[start...].filter { $0.depth == depth + 1 }.reduce(0) { $0 + $1.forwardFLOPs }
            layers[index].forwardFLOPs = bodyFlops
            return input
        }
        layers.append(LayerInfo(path: path, parameterPrefix: names, depth: depth, layer: layer, input: input,
                                output: output, parameters: params, forwardFLOPs: flops))
        return output
    }
}

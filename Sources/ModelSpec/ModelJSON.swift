import Foundation

// The model file format (see README "Model files"): field names are fixed; omitted options
// take docs/CONVENTIONS.md's defaults; unknown fields are errors that list the valid ones.

extension Model: Codable {
    /// Reads a model through any `Decoder` (JSONDecoder for model files). Errors are
    /// `ModelSpecError`s naming the place, e.g. `layers[3].layers[1] (conv1d)`.
    public init(from decoder: Decoder) throws {
        let value = try JSONValue(from: decoder)
        self = try Model(json: value, file: nil)
    }

    /// Writes the model with every option spelled out.
    public func encode(to encoder: Encoder) throws {
        try json.encode(to: encoder)
    }

    /// Reads a model file; errors name the file and the place in it.
    public static func load(from url: URL) throws -> Model {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelSpecError(file: url.path, place: "file",
                                 "cannot be read: \(Messages.fileProblem(error, path: url.path)); check the path")
        }
        return try decode(data, source: url.path)
    }

    /// Reads a model from JSON text; `source` names the file in errors.
    public static func decode(_ data: Data, source: String? = nil) throws -> Model {
        let value = try JSONValue.parse(data, source: source)
        return try Model(json: value, file: source)
    }

    /// The model as pretty JSON text, every option spelled out, keys in the documented order.
    public var jsonString: String { json.formatted() + "\n" }

    /// Writes the model file atomically (a temporary file in the same folder, then a rename).
    public func write(to url: URL) throws {
        do {
            try Data(jsonString.utf8).write(to: url, options: .atomic)
        } catch {
            throw ModelSpecError(file: url.path, place: "file",
                                 "cannot be written: \(Messages.fileProblem(error, path: url.path, writing: true))")
        }
    }

    /// The model as a JSON value.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("name", .string(name))]
        switch input {
        case .features(let f): pairs.append(("input", .object([("features", .number(JSONNumber(Double(f))))])))
        case .sequence(let l, let c):
            pairs.append(("input", .object([("length", .number(JSONNumber(Double(l)))), ("channels", .number(JSONNumber(Double(c))))])))
        }
        pairs.append(("batch", .number(JSONNumber(Double(batch)))))
        if standardize { pairs.append(("standardize", .bool(true))) }
        pairs.append(("layers", .array(layers.enumerated().map { layerJSON($1, path: "layers[\($0)]") })))
        pairs.append(("loss", loss.json))
        pairs.append(("optimizer", optimizer.json))
        return .object(pairs)
    }

    /// A layer's JSON with its `"trainable"` field when the model gives it one.
    private func layerJSON(_ layer: Layer, path: String) -> JSONValue {
        guard case .object(var pairs) = layer.json else { return layer.json }
        if case .residual(let body) = layer, let i = pairs.firstIndex(where: { $0.0 == "layers" }) {
            pairs[i].1 = .array(body.enumerated().map { layerJSON($1, path: "\(path).layers[\($0)]") })
        }
        switch trainable[path] {
        case .all?: pairs.append(("trainable", .bool(true)))
        case .frozen?: pairs.append(("trainable", .bool(false)))
        case .biasOnly?: pairs.append(("trainable", .string("bias")))
        case .weightOnly?: pairs.append(("trainable", .string("weight")))
        case nil: break
        }
        return .object(pairs)
    }

    /// Builds a model from a parsed JSON value, checking every field.
    public init(json: JSONValue, file: String?) throws {
        let r = Reader(file: file)
        let top = r.object(json, place: "model", allowed: ["name", "input", "batch", "layers", "loss", "optimizer", "standardize"])
        let name = top.flatMap { r.string($0, "name", place: "name") } ?? ""
        let input = top.flatMap { obj in r.required(obj, "input", place: "input").flatMap { r.input($0) } }
        let batch = top.flatMap { r.int($0, "batch", place: "batch") } ?? 1
        var layers: [Layer] = []
        if let top, let list = r.required(top, "layers", place: "layers") {
            layers = r.layers(list, prefix: "") ?? []
        }
        let loss = top.flatMap { obj in r.required(obj, "loss", place: "loss").flatMap { r.loss($0) } }
        var optimizer: Optimizer? = .adam()
        if let top, let o = r.field(top, "optimizer") { optimizer = r.optimizer(o) }
        let standardize = top.flatMap { r.bool($0, "standardize", place: "standardize", default: false) } ?? false
        if !r.issues.isEmpty {
            throw ModelSpecError(file: file, issues: r.issues)
        }
        guard let input, let loss, let optimizer else {
            throw ModelSpecError(file: file, place: "model", "the model is incomplete")
        }
        self.init(name: name, input: input, batch: batch, layers: layers, loss: loss,
                  optimizer: optimizer, standardize: standardize, trainable: r.trainable)
    }
}

extension Layer {
    /// The layer as a JSON object with every option spelled out.
    public var json: JSONValue {
        var p: [(String, JSONValue)] = [("type", .string(typeName))]
        func n(_ v: Int) -> JSONValue { .number(JSONNumber(Double(v))) }
        switch self {
        case .dense(let units, let bias):
            p += [("units", n(units)), ("bias", .bool(bias))]
        case .conv1d(let filters, let kernel, let stride, let padding, let dilation, let bias):
            let pad: JSONValue
            switch padding {
            case .explicit(let v): pad = n(v)
            case .same: pad = .string("same")
            case .valid: pad = .string("valid")
            }
            p += [("filters", n(filters)), ("kernel", n(kernel)), ("stride", n(stride)), ("padding", pad),
                  ("dilation", n(dilation)), ("bias", .bool(bias))]
        case .layerNorm(let eps, let affine):
            p += [("eps", .number(JSONNumber(eps))), ("affine", .bool(affine))]
        case .activation(.leakyReLU(let slope)):
            p += [("negative_slope", .number(JSONNumber(slope)))]
        case .maxPool1d(let kernel, let stride), .avgPool1d(let kernel, let stride):
            p += [("kernel", n(kernel)), ("stride", n(stride))]
        case .residual(let body):
            p += [("layers", .array(body.map(\.json)))]
        case .activation, .globalAvgPool1d, .flatten:
            break
        }
        return .object(p)
    }

    /// The fields each layer type accepts besides `type` and `trainable` (which every layer accepts).
    public static let fieldsByType: [String: [String]] = [
        "dense": ["units", "bias"],
        "conv1d": ["filters", "kernel", "stride", "padding", "dilation", "bias"],
        "layernorm": ["eps", "affine"],
        "leaky_relu": ["negative_slope"],
        "maxpool1d": ["kernel", "stride"],
        "avgpool1d": ["kernel", "stride"],
        "residual": ["layers"],
    ]
}

extension Optimizer {
    /// The optimizer as a JSON object with every option spelled out.
    public var json: JSONValue {
        switch self {
        case .sgd(let lr, let m, let nesterov, let wd):
            return .object([("type", .string("sgd")), ("lr", .number(JSONNumber(lr))), ("momentum", .number(JSONNumber(m))),
                            ("nesterov", .bool(nesterov)), ("weight_decay", .number(JSONNumber(wd)))])
        case .adam(let lr, let b1, let b2, let eps, let wd), .adamw(let lr, let b1, let b2, let eps, let wd):
            return .object([("type", .string(typeName)), ("lr", .number(JSONNumber(lr))), ("beta1", .number(JSONNumber(b1))),
                            ("beta2", .number(JSONNumber(b2))), ("eps", .number(JSONNumber(eps))), ("weight_decay", .number(JSONNumber(wd)))])
        }
    }
}

extension Loss {
    /// The loss as a model file holds it: `{"type": "huber", "delta": 1.0}`.
    var json: JSONValue {
        if case .huber(let delta) = self {
            return .object([("type", .string(typeName)), ("delta", .number(JSONNumber(delta)))])
        }
        return .object([("type", .string(typeName))])
    }
}

/// Reads fields out of JSON values, collecting every problem with its place.
private final class Reader {
    let file: String?
    var issues: [ModelIssue] = []
    /// The `"trainable"` fields read, by layer path.
    var trainable: [String: Trainable] = [:]
    init(file: String?) { self.file = file }

    func fail(_ place: String, _ message: String) { issues.append(ModelIssue(place: place, message: message)) }

    typealias Object = (pairs: [(String, JSONValue)], place: String)

    func object(_ v: JSONValue, place: String, allowed: [String]) -> Object? {
        guard case .object(let pairs) = v else {
            fail(place, "expected an object {...}, got \(v.kindName)")
            return nil
        }
        var seen = Set<String>()
        for (k, _) in pairs {
            if !seen.insert(k).inserted { fail(place, "field \"\(Messages.shown(k))\" appears twice") }
            if !allowed.contains(k) {
                let valid = allowed == ["type"] ? "it takes no fields besides \"type\""
                    : allowed == ["type", "trainable"] ? "it takes no fields besides \"type\" and \"trainable\""
                    : "valid fields: " + allowed.joined(separator: ", ")
                fail(place, "unknown field \"\(Messages.shown(k))\"; \(valid)")
            }
        }
        return (pairs, place)
    }

    func field(_ o: Object, _ key: String) -> JSONValue? {
        o.pairs.first { $0.0 == key }?.1
    }

    func required(_ o: Object, _ key: String, place: String) -> JSONValue? {
        guard let v = field(o, key) else {
            fail(o.place == "model" ? place : o.place, "missing required field \"\(key)\"")
            return nil
        }
        return v
    }

    func string(_ o: Object, _ key: String, place: String) -> String? {
        guard let v = required(o, key, place: place) else { return nil }
        guard case .string(let s) = v else {
            fail(o.place == "model" ? place : o.place, "\"\(key)\" must be a string, got \(v.kindName)")
            return nil
        }
        return s
    }

    /// An integer field; `default` nil means required.
    func int(_ o: Object, _ key: String, place: String, default def: Int? = nil) -> Int? {
        let where_ = o.place == "model" ? place : o.place
        guard let v = field(o, key) else {
            if def == nil { fail(where_, "missing required field \"\(key)\" (an integer)") }
            return def
        }
        return intValue(v, key: key, place: where_)
    }

    func intValue(_ v: JSONValue, key: String, place: String) -> Int? {
        guard case .number(let number) = v else {
            fail(place, "\"\(key)\" must be an integer, got \(v.kindName)")
            return nil
        }
        let d = number.value
        guard d == d.rounded() else {
            fail(place, "\"\(key)\" must be an integer, got \(JSONValue.format(d))")
            return nil
        }
        guard abs(d) <= Double(ModelLimits.maxElements) else {
            fail(place, "\"\(key)\" is \(JSONValue.format(d)), too large (at most \(ModelLimits.maxElements))")
            return nil
        }
        return Int(d)
    }

    func double(_ o: Object, _ key: String, default def: Double?) -> Double? {
        guard let v = field(o, key) else {
            if def == nil { fail(o.place, "missing required field \"\(key)\" (a number)") }
            return def
        }
        guard case .number(let d) = v else {
            fail(o.place, "\"\(key)\" must be a number, got \(v.kindName)")
            return nil
        }
        return d.value
    }

    func bool(_ o: Object, _ key: String, place: String? = nil, default def: Bool) -> Bool? {
        guard let v = field(o, key) else { return def }
        guard case .bool(let b) = v else {
            fail(place ?? o.place, "\"\(key)\" must be true or false, got \(v.kindName)")
            return nil
        }
        return b
    }

    func input(_ v: JSONValue) -> InputShape? {
        guard let o = object(v, place: "input", allowed: ["features", "length", "channels"]) else { return nil }
        let hasF = field(o, "features") != nil
        let hasSeq = field(o, "length") != nil || field(o, "channels") != nil
        if hasF && hasSeq {
            fail("input", "give either {\"features\": F} or {\"length\": L, \"channels\": C}, not both")
            return nil
        }
        if hasF {
            return int(o, "features", place: "input").map { .features($0) }
        }
        if hasSeq {
            guard let l = int(o, "length", place: "input"), let c = int(o, "channels", place: "input") else { return nil }
            return .sequence(length: l, channels: c)
        }
        fail("input", "expected {\"features\": F} or {\"length\": L, \"channels\": C}")
        return nil
    }

    func layers(_ v: JSONValue, prefix: String) -> [Layer]? {
        guard case .array(let items) = v else {
            fail(prefix.isEmpty ? "layers" : String(prefix.dropLast()), "\"layers\" must be a list of layer objects, got \(v.kindName)")
            return nil
        }
        var out: [Layer] = []
        var ok = true
        for (i, item) in items.enumerated() {
            if let l = layer(item, path: "\(prefix)layers[\(i)]") { out.append(l) } else { ok = false }
        }
        return ok ? out : nil
    }

    func layer(_ v: JSONValue, path: String) -> Layer? {
        guard case .object(let pairs) = v else {
            fail(path, "expected a layer object such as {\"type\": \"relu\"}, got \(v.kindName)")
            return nil
        }
        guard let t = pairs.first(where: { $0.0 == "type" })?.1 else {
            fail(path, "missing required field \"type\"; valid types: " + Layer.typeNames.joined(separator: ", "))
            return nil
        }
        guard case .string(let type) = t else {
            fail(path, "\"type\" must be a string, got \(t.kindName)")
            return nil
        }
        guard Layer.typeNames.contains(type) else {
            fail(path, "unknown layer type \"\(Messages.shown(type))\"; valid types: " + Layer.typeNames.joined(separator: ", "))
            return nil
        }
        let place = "\(path) (\(type))"
        guard let o = object(v, place: place, allowed: ["type"] + (Layer.fieldsByType[type] ?? []) + ["trainable"]) else { return nil }
        let before = issues.count
        if let t = field(o, "trainable") {
            switch t {
            case .bool(true): trainable[path] = .all
            case .bool(false): trainable[path] = .frozen
            case .string("bias"): trainable[path] = .biasOnly
            case .string("weight"): trainable[path] = .weightOnly
            default:
                fail(place, "\"trainable\" must be \(Trainable.validValues), got "
                     + (t.kindName == "a string" ? Messages.shown(t.formatted()) : t.kindName))
            }
        }
        let layer: Layer?
        switch type {
        case "dense":
            let units = int(o, "units", place: place)
            let bias = bool(o, "bias", default: true)
            layer = units.flatMap { u in bias.map { .dense(units: u, bias: $0) } }
        case "conv1d":
            let filters = int(o, "filters", place: place)
            let kernel = int(o, "kernel", place: place)
            let stride = int(o, "stride", place: place, default: 1)
            let dilation = int(o, "dilation", place: place, default: 1)
            let bias = bool(o, "bias", default: true)
            var padding: Padding? = .explicit(0)
            if let p = field(o, "padding") {
                switch p {
                case .string("same"): padding = .same
                case .string("valid"): padding = .valid
                case .number: padding = intValue(p, key: "padding", place: place).map { .explicit($0) }
                default:
                    fail(place, "\"padding\" must be an integer, \"same\" or \"valid\", got "
                         + (p.kindName == "a string" ? Messages.shown(p.formatted()) : p.kindName))
                    padding = nil
                }
            }
            if let filters, let kernel, let stride, let dilation, let bias, let padding {
                layer = .conv1d(filters: filters, kernel: kernel, stride: stride, padding: padding,
                                dilation: dilation, bias: bias)
            } else { layer = nil }
        case "layernorm":
            let eps = double(o, "eps", default: 1e-5)
            let affine = bool(o, "affine", default: true)
            layer = eps.flatMap { e in affine.map { .layerNorm(eps: e, affine: $0) } }
        case "leaky_relu":
            layer = double(o, "negative_slope", default: 0.01).map { .activation(.leakyReLU(negativeSlope: $0)) }
        case "maxpool1d", "avgpool1d":
            let kernel = int(o, "kernel", place: place)
            let stride = kernel.flatMap { int(o, "stride", place: place, default: $0) }
            if let kernel, let stride {
                layer = type == "maxpool1d" ? .maxPool1d(kernel: kernel, stride: stride) : .avgPool1d(kernel: kernel, stride: stride)
            } else { layer = nil }
        case "residual":
            layer = required(o, "layers", place: place).flatMap { layers($0, prefix: path + ".") }.map { .residual($0) }
        case "global_avg_pool1d": layer = .globalAvgPool1d
        case "flatten": layer = .flatten
        default: layer = Activation(typeName: type).map { .activation($0) }
        }
        return issues.count == before ? layer : nil
    }

    func loss(_ v: JSONValue) -> Loss? {
        let valid = Loss.allCases.map(\.typeName).joined(separator: ", ")
        // The fields a loss takes depend on its type: read the type first.
        var type: String?
        if case .object(let pairs) = v, case .string(let t)? = pairs.first(where: { $0.0 == "type" })?.1 { type = t }
        let huber = type == "huber"
        guard let o = object(v, place: "loss", allowed: huber ? ["type", "delta"] : ["type"]) else { return nil }
        guard let t = string(o, "type", place: "loss") else { return nil }
        guard let loss = Loss(typeName: t) else {
            fail("loss", "unknown loss \"\(Messages.shown(t))\"; valid losses: \(valid)")
            return nil
        }
        if case .huber(let def) = loss {
            return double(o, "delta", default: def).map { .huber(delta: $0) }
        }
        return loss
    }

    func optimizer(_ v: JSONValue) -> Optimizer? {
        let valid = ["sgd", "adam", "adamw"]
        guard case .object(let pairs) = v, let tv = pairs.first(where: { $0.0 == "type" })?.1,
              case .string(let t) = tv else {
            fail("optimizer", "expected an object with a \"type\" (one of \(valid.joined(separator: ", ")))")
            return nil
        }
        let place = "optimizer (\(Messages.shown(t)))"
        switch t {
        case "sgd":
            guard let o = object(v, place: place, allowed: ["type", "lr", "momentum", "nesterov", "weight_decay"]) else { return nil }
            guard let lr = double(o, "lr", default: nil), let m = double(o, "momentum", default: 0),
                  let n = bool(o, "nesterov", default: false), let wd = double(o, "weight_decay", default: 0) else { return nil }
            return .sgd(lr: lr, momentum: m, nesterov: n, weightDecay: wd)
        case "adam", "adamw":
            guard let o = object(v, place: place, allowed: ["type", "lr", "beta1", "beta2", "eps", "weight_decay"]) else { return nil }
            guard let lr = double(o, "lr", default: 1e-3), let b1 = double(o, "beta1", default: 0.9),
                  let b2 = double(o, "beta2", default: 0.999), let eps = double(o, "eps", default: 1e-8),
                  let wd = double(o, "weight_decay", default: t == "adam" ? 0 : 0.01) else { return nil }
            return t == "adam" ? .adam(lr: lr, beta1: b1, beta2: b2, eps: eps, weightDecay: wd)
                : .adamw(lr: lr, beta1: b1, beta2: b2, eps: eps, weightDecay: wd)
        default:
            fail("optimizer", "unknown optimizer \"\(Messages.shown(t))\"; valid optimizers: \(valid.joined(separator: ", "))")
            return nil
        }
    }
}

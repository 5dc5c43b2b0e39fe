import Foundation

/// The C templates from `templates/`, embedded into the binary at build time by the
/// EmbedTemplates plugin, so nngen works from any directory.
public enum Templates {
    /// The names of every embedded template.
    public static var names: [String] { EmbeddedTemplates.files.keys.sorted() }

    /// A template's text, unchanged.
    public static func text(_ name: String) -> String {
        guard let t = EmbeddedTemplates.files[name] else {
            preconditionFailure("template \(name) is not embedded; is it in templates/?")
        }
        return t
    }

    /// A template with every `{{KEY}}` replaced. Every placeholder must be given a value.
    public static func render(_ name: String, _ values: [String: String]) -> String {
        var s = text(name)
        for (k, v) in values { s = s.replacingOccurrences(of: "{{\(k)}}", with: v) }
        precondition(!s.contains("{{"), "template \(name) has a placeholder without a value")
        return s
    }
}


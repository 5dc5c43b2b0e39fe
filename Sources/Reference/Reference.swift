public enum ReferencePlaceholder {}

/* nngen prelude: filled by CodeGen. */

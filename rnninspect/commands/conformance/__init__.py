"""``rnninspect conformance``: ONNX's recurrent operators in a runtime, against the equations."""

"""Edge and interchange conversion: SavedModel/Keras/ONNX/PyTorch -> TFLite or ONNX, verified and versioned.

    from modelserve.convert import ConvertRequest, convert

    result = convert(ConvertRequest(source=Path("models/digits/1"), to="tflite", quantize="int8",
                                    calibration=Path("models/digits_png"), out=Path("/srv/models/digits_edge")))
    result.version, result.accepted, result.rows        # the landed version, the gate, the report's table

One job per module: :mod:`.source` (read the model, freeze the chosen signature), :mod:`.tflite` and
:mod:`.onnx` (convert and quantize), :mod:`.pytorch` (the optional PyTorch exporter), :mod:`.samples`
(calibration and evaluation data), :mod:`.verify` (run the original and the conversion on the same inputs),
:mod:`.report` (Markdown, JSON, PNG), :mod:`.versioning` (atomic version folders), :mod:`.edgetpu` (is a
TFLite file fully integer?), :mod:`.pipeline` (the order of the steps) and :mod:`.cli`. Importing this
package imports no framework; each step imports its own when it runs.
"""

from modelserve.convert.pipeline import ConvertRequest, ConvertResult, convert

__all__ = ["ConvertRequest", "ConvertResult", "convert"]

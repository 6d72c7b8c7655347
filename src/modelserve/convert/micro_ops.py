"""The ops TensorFlow Lite for Microcontrollers (TFLM) can run, as data for :mod:`.micro`.

Source: the ``Add*`` methods of ``MicroMutableOpResolver`` in ``tensorflow/lite/micro/micro_mutable_op_resolver.h``
of https://github.com/tensorflow/tflite-micro (file last changed in commit e1a6329fe954, 2026-01-13; read from
the repository's head, commit 90b983c2b3f1, 2026-08-20, on 2026-12-04). Every builtin there is listed; custom
ops are listed by the names the resolver registers them under. A builtin in this set can still lack a kernel
for a tensor type (ARG_MAX writes int32 only, for example): :mod:`.micro` checks the types separately.
Update this list when TFLM adds kernels.
"""

from __future__ import annotations

TFLM_BUILTIN_OPS = frozenset(
    {
        "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D", "BATCH_MATMUL",
        "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST", "CEIL", "CONCATENATION",
        "CONV_2D", "COS", "CUMSUM", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "DIV",
        "DYNAMIC_UPDATE_SLICE", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP", "EXPAND_DIMS", "FILL", "FLOOR",
        "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER", "GREATER_EQUAL",
        "HARD_SWISH", "IF", "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
        "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "LOG_SOFTMAX", "MAXIMUM", "MAX_POOL_2D", "MEAN",
        "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE",
        "READ_VARIABLE", "REDUCE_ALL", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2", "SHAPE", "SIN", "SLICE", "SOFTMAX",
        "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE",
        "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
        "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
    }
)  # fmt: skip

#: Custom ops TFLM registers (``AddCustom``): the audio front end's ``Signal*`` ops, the detection
#: post-processing op, the circular buffer, TFLM's decode op, and the Arm Ethos-U NPU op.
TFLM_CUSTOM_OPS = frozenset(
    {
        "CIRCULAR_BUFFER", "TFLM_DECODE", "TFLite_Detection_PostProcess", "ethos-u",
        "SignalDelay", "SignalEnergy", "SignalFftAutoScale", "SignalFilterBank", "SignalFilterBankLog",
        "SignalFilterBankSpectralSubtraction", "SignalFilterBankSquareRoot", "SignalFramer", "SignalIrfft",
        "SignalOverlapAdd", "SignalPCAN", "SignalRfft", "SignalStacker", "SignalWindow",
    }
)  # fmt: skip


def tflm_supports(op: str) -> bool:
    """Whether TFLM has ``op``: a builtin name (``CONV_2D``) or ``CUSTOM:<name>`` as :mod:`.micro_graph` names it."""
    if op.startswith("CUSTOM:"):
        return op.removeprefix("CUSTOM:") in TFLM_CUSTOM_OPS
    return op in TFLM_BUILTIN_OPS

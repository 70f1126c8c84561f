"""Keras-style layers."""
import sys as _sys

from ..serialization import register_layer_namespace as _register_layer_namespace
from .base import Layer  # noqa: F401
from .core import (  # noqa: F401
    ELU, Activation, Dense, Dropout, Flatten, Identity, Input, InputLayer, Lambda, LeakyReLU, ReLU, Softmax,
)
from .merge import (  # noqa: F401
    Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, dot, maximum,
    minimum, multiply, subtract,
)
from .conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose  # noqa: F401
from .pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
)
from .normalization import BatchNormalization, SyncBatchNormalization  # noqa: F401
from .reshaping import (  # noqa: F401
    Cropping1D, Cropping2D, Permute, RepeatVector, Reshape, UpSampling1D, UpSampling2D, ZeroPadding2D,
)
from .preprocessing import Normalization, Rescaling  # noqa: F401
from .noise import GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .masking import Masking  # noqa: F401
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed  # noqa: F401
from .rnn_cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: F401
from .rnn_layer import RNN  # noqa: F401
from .layer_norm import LayerNormalization  # noqa: F401
from .attention import AdditiveAttention, Attention, MultiHeadAttention  # noqa: F401
from .transformer import PositionalEncoding, PositionEmbedding, TransformerEncoder  # noqa: F401
from .text_vectorization import TextVectorization  # noqa: F401
from .conv_extra import Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D  # noqa: F401
from .pooling3d import AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D, MaxPooling3D  # noqa: F401
from .augmentation import (  # noqa: F401
    RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
)
from .image_preprocessing import CenterCrop, Resizing  # noqa: F401
from .op_layer import OpLayer  # noqa: F401  (ember.ops calls recorded on symbolic tensors)

# Keras' alias names for the same classes (a saved model records the canonical class name).
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

# Configs name layers by class; serialization finds them here (it sits below this package).
_register_layer_namespace(_sys.modules[__name__])

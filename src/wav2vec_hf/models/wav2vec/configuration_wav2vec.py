"""Configuration of wav2vec (Schneider et al., 2019) and vq-wav2vec (Baevski et al., 2020).

One configuration covers both, as in fairseq: vq-wav2vec is wav2vec with a quantiser between the
encoder and the context network. Every structural option of fairseq's ``Wav2VecModel`` has a field
here, with fairseq's name, so a converted checkpoint keeps its exact architecture.

This file imports only ``transformers`` so that it can ship as Hub remote code next to
``modeling_wav2vec.py``.
"""

import math

from transformers import PretrainedConfig

# (channels, kernel, stride) of each conv layer, as in fairseq's ``conv_feature_layers`` strings.
LayerSpec = tuple[int, int, int]

WAV2VEC_FEATURE_LAYERS: tuple[LayerSpec, ...] = (
    (512, 10, 5),
    (512, 8, 4),
    (512, 4, 2),
    (512, 4, 2),
    (512, 4, 2),
)
WAV2VEC_BASE_AGGREGATOR_LAYERS: tuple[LayerSpec, ...] = ((512, 3, 1),) * 9
# wav2vec_large / vq-wav2vec: two (wav2vec) or three (vq-wav2vec) extra 1x1 layers, kernels 2..13.
WAV2VEC_LARGE_FEATURE_LAYERS = (*WAV2VEC_FEATURE_LAYERS, (512, 1, 1), (512, 1, 1))
VQ_WAV2VEC_FEATURE_LAYERS = (*WAV2VEC_FEATURE_LAYERS, (512, 1, 1), (512, 1, 1), (512, 1, 1))
WAV2VEC_LARGE_AGGREGATOR_LAYERS: tuple[LayerSpec, ...] = tuple((512, k, 1) for k in range(2, 14))
# (channels, kernel) of each layer of the CTC acoustic model: the wav2vec paper's TIMIT model,
# 7 blocks of kernel-5 convolutions with 1,000 channels, PReLU and dropout 0.7.
HeadLayerSpec = tuple[int, int]
WAV2LETTER_HEAD_LAYERS: tuple[HeadLayerSpec, ...] = ((1000, 5),) * 7

_CHOICES = {
    "aggregator": ("cnn", "gru"),
    "activation": ("relu", "gelu"),
    "project_features": ("none", "same", "new"),
    "vq_type": ("none", "gumbel", "kmeans"),
    "ctc_head_activation": ("prelu", "relu", "glu"),
    "ctc_loss_reduction": ("mean", "sum"),
}


class Wav2VecConfig(PretrainedConfig):
    r"""Configuration of a wav2vec / vq-wav2vec model.

    The defaults are the paper's wav2vec (fairseq's 2019 ``base_wav2vec_architecture`` with the
    paper's 10 negatives): a 5-layer encoder (receptive field 465 samples, hop 160 samples = 10 ms
    at 16 kHz) and a 9-layer causal context network with kernel 3, no log compression, no skip
    connections, ReLU. Warning: fairseq's later dataclass defaults differ (``log_compression`` and
    ``skip_connections_agg`` became True, 8 encoder layers, kernels 2..13); the converter reads every
    field from the checkpoint instead. Named configurations are in ``wav2vec_hf.presets``.

    Args:
        conv_feature_layers: encoder conv layers as (channels, kernel, stride); no bias, each followed
            by group norm with one group (over channels and time, in fp32) and the activation.
        conv_aggregator_layers: context network conv layers as (channels, kernel, stride); stride
            must be 1. Each is causal: the input is padded by kernel - 1 frames on the left.
        aggregator: ``"cnn"`` (the paper) or ``"gru"`` (one GRU layer of ``gru_dim`` units over time).
        gru_dim: hidden size of the GRU aggregator.
        activation: ``"relu"`` (wav2vec) or ``"gelu"`` (vq-wav2vec).
        log_compression: apply ``log(|z| + 1)`` to the encoder output.
        skip_connections_feat: residual connections in the encoder (where channel counts match; the
            residual is subsampled in time to the block's output length).
        skip_connections_agg: residual connections in the context network (a 1x1 conv projects the
            residual where channel counts change).
        residual_scale: residual sums are multiplied by ``sqrt(residual_scale)``.
        non_affine_group_norm: group norms without learned scale and shift.
        agg_zero_pad: pad the context network causally with zeros instead of repeating the first frame.
        conv_bias: bias in the context network convs (fairseq ``not no_conv_bias``). The encoder convs
            never have one.
        dropout: dropout inside the context network blocks and on the step predictions.
        dropout_features: dropout on the encoder (or quantiser) output fed to the context network.
        dropout_agg: dropout on the context network output.
        prediction_steps: K, the number of future steps predicted (one affine map per step).
        num_negatives: distractors per target, drawn uniformly from the same utterance (never the target).
        cross_sample_negatives: extra distractors per target drawn from the whole batch.
        sample_distance: if set, same-utterance distractors are drawn within this many frames of the
            target (fairseq had this option but its implementation was broken; this is the intended meaning).
        offset: frames between a context vector and its first target: ``"auto"`` (ceil of receptive
            field / hop, 3 for the paper's encoder) or an int.
        balanced_classes: weight each negative term by 1 / num_negatives in the binary loss.
        infonce: use softmax cross entropy over (positive, negatives) instead of binary cross entropy.
        project_features: pass the targets through the context network (``"same"``) or through a
            second context network (``"new"``) before scoring; ``"none"`` scores them directly.
        vq_type: ``"none"`` (wav2vec), ``"gumbel"`` or ``"kmeans"`` (vq-wav2vec).
        vq_vars: V, codewords per group.
        vq_groups: G, groups; a frame's code is G indices, its quantised vector the concatenation.
        vq_dim: size of the quantised vector (0: the encoder's channel count). k-means requires 0 or
            the encoder's channel count.
        vq_depth: Gumbel only: layers of the logit projection (depth - 1 hidden layers of 2 x channels
            with the model's activation, then the output layer).
        combine_groups: share one codebook of V entries among all groups.
        vq_temp: Gumbel temperature (start, end, decay per update): tau = max(end, start * decay**step).
        vq_gamma: k-means commitment weight: ||sg(ze) - zq||^2 + gamma ||ze - sg(zq)||^2.
        diversity_loss_weight: weight of the Gumbel diversity term (G V - prob_perplexity) / (G V).
            fairseq's ``--loss-weights [w]`` multiplies the unnormalised G V - prob_perplexity, i.e.
            our weight = w x G x V. The released Gumbel command set no loss weight (0).
        kmeans_loss_weight: weight of the k-means loss (the released command: 1).
        sampling_rate: input sample rate in Hz (for error messages, frame rates and bitrates).

    CTC fine-tuning fields (read by ``Wav2VecForCTC`` / ``VQWav2VecForCTC`` only; the papers fed the
    frozen context vectors to a wav2letter acoustic model trained with a letter criterion):

        vocab_size: output tokens of the CTC layer, blank included (``None`` until a vocabulary exists).
        pad_token_id: id of the CTC blank (the tokenizer's pad token).
        ctc_head_layers: the acoustic model's conv layers as (channels, kernel), stride 1, padded so
            that every layer keeps one output per frame. Default: the wav2vec paper's TIMIT model.
        ctc_head_activation: ``"prelu"`` (the paper's TIMIT model), ``"relu"`` or ``"glu"`` (gated
            convolutions as in wav2letter++: each conv has twice the channels, halved by the gate).
        ctc_head_dropout: dropout after every acoustic model layer (the paper: 0.7 on TIMIT).
        freeze_pretrained: keep the pretrained wav2vec network fixed (in eval mode, no gradient),
            as the papers did; ``False`` fine-tunes it together with the acoustic model.
        ctc_loss_reduction: ``"mean"`` (each utterance's loss divided by its label length, then
            averaged over the batch) or ``"sum"``.
        ctc_zero_infinity: zero the loss (and gradient) of utterances too short for their labels
            instead of returning inf.
    """

    model_type = "wav2vec"

    conv_feature_layers: list | tuple = WAV2VEC_FEATURE_LAYERS
    conv_aggregator_layers: list | tuple = WAV2VEC_BASE_AGGREGATOR_LAYERS
    aggregator: str = "cnn"
    gru_dim: int = 512
    activation: str = "relu"
    log_compression: bool = False
    skip_connections_feat: bool = False
    skip_connections_agg: bool = False
    residual_scale: float = 0.5
    non_affine_group_norm: bool = False
    agg_zero_pad: bool = False
    conv_bias: bool = True
    dropout: float = 0.0
    dropout_features: float = 0.0
    dropout_agg: float = 0.0
    prediction_steps: int = 12
    num_negatives: int = 10
    cross_sample_negatives: int = 0
    sample_distance: int | None = None
    offset: int | str = "auto"
    balanced_classes: bool = False
    infonce: bool = False
    project_features: str = "none"
    vq_type: str = "none"
    vq_vars: int = 320
    vq_groups: int = 2
    vq_dim: int = 0
    vq_depth: int = 1
    combine_groups: bool = False
    vq_temp: list | tuple = (2.0, 0.5, 0.999995)
    vq_gamma: float = 0.25
    diversity_loss_weight: float = 0.0
    kmeans_loss_weight: float = 1.0
    sampling_rate: int = 16000
    vocab_size: int | None = None
    pad_token_id: int | None = None
    ctc_head_layers: list | tuple = WAV2LETTER_HEAD_LAYERS
    ctc_head_activation: str = "prelu"
    ctc_head_dropout: float = 0.7
    freeze_pretrained: bool = True
    ctc_loss_reduction: str = "mean"
    ctc_zero_infinity: bool = True

    def __post_init__(self, **kwargs):
        # JSON turns tuples into lists: normalise so that a saved and reloaded config compares equal.
        self.conv_feature_layers = _layer_specs(self.conv_feature_layers, "conv_feature_layers")
        self.conv_aggregator_layers = _layer_specs(self.conv_aggregator_layers, "conv_aggregator_layers")
        self.ctc_head_layers = _head_specs(self.ctc_head_layers)
        self.vq_temp = tuple(float(value) for value in self.vq_temp)
        if isinstance(self.offset, str) and self.offset != "auto":
            self.offset = int(self.offset)
        self._check()
        super().__post_init__(**kwargs)

    def _check(self) -> None:
        for field, choices in _CHOICES.items():
            if getattr(self, field) not in choices:
                raise ValueError(
                    f"{type(self).__name__}.{field}={getattr(self, field)!r}: choose one of {choices}."
                )
        if not self.conv_feature_layers:
            raise ValueError(f"{type(self).__name__}.conv_feature_layers is empty: give at least one layer.")
        if self.aggregator == "cnn":
            if not self.conv_aggregator_layers:
                raise ValueError(
                    f"{type(self).__name__}.conv_aggregator_layers is empty for aggregator='cnn'."
                )
            strides = [stride for _, _, stride in self.conv_aggregator_layers]
            if any(stride != 1 for stride in strides):
                raise ValueError(
                    f"{type(self).__name__}.conv_aggregator_layers strides {strides}: the causal context "
                    "network keeps one vector per frame, so every stride must be 1."
                )
        if len(self.vq_temp) != 3:
            raise ValueError(f"{type(self).__name__}.vq_temp={self.vq_temp}: give (start, end, decay).")
        if self.vq_type != "none":
            if self.vq_groups < 1 or self.vq_vars < 1:
                raise ValueError(f"{type(self).__name__}: vq_groups and vq_vars must be >= 1.")
            if self.quantized_dim % self.vq_groups:
                raise ValueError(
                    f"{type(self).__name__}: the quantised size {self.quantized_dim} (vq_dim, or the encoder "
                    f"channels when 0) must be divisible by vq_groups={self.vq_groups}."
                )
            if self.vq_type == "kmeans" and self.quantized_dim != self.encoder_dim:
                raise ValueError(
                    f"{type(self).__name__}: k-means quantisation keeps the encoder size; set vq_dim=0 "
                    f"(got vq_dim={self.vq_dim}, encoder channels {self.encoder_dim})."
                )
            if self.vq_type == "kmeans" and self.encoder_dim % self.vq_groups:
                raise ValueError(f"{type(self).__name__}: encoder channels must be divisible by vq_groups.")
            if self.vq_type == "gumbel" and self.vq_depth < 1:
                raise ValueError(f"{type(self).__name__}.vq_depth must be >= 1.")
        if self.resolved_offset < 0 or self.prediction_steps < 1:
            raise ValueError(f"{type(self).__name__}: offset must be >= 0 and prediction_steps >= 1.")
        if self.sample_distance is not None and self.sample_distance < 1:
            raise ValueError(f"{type(self).__name__}.sample_distance must be None or >= 1.")
        if self.num_negatives < 0 or self.cross_sample_negatives < 0:
            raise ValueError(f"{type(self).__name__}: negative counts must be >= 0.")
        if not 0.0 <= self.ctc_head_dropout < 1.0:
            raise ValueError(
                f"{type(self).__name__}.ctc_head_dropout={self.ctc_head_dropout}: give a value in [0, 1)."
            )
        if self.vocab_size is not None and self.vocab_size < 2:
            raise ValueError(
                f"{type(self).__name__}.vocab_size={self.vocab_size}: a CTC vocabulary needs the blank and at least one token."
            )

    # Derived quantities (properties, so they are never serialised).

    @property
    def encoder_dim(self) -> int:
        """Channels of the encoder output z."""
        return self.conv_feature_layers[-1][0]

    @property
    def quantized_dim(self) -> int:
        """Channels of the quantised vectors (the encoder's when ``vq_dim`` is 0)."""
        return self.vq_dim if self.vq_dim > 0 else self.encoder_dim

    @property
    def context_input_dim(self) -> int:
        """Channels the context network reads: quantised vectors for vq-wav2vec, z otherwise."""
        return self.quantized_dim if self.vq_type != "none" else self.encoder_dim

    @property
    def context_dim(self) -> int:
        """Channels of the context output c."""
        return self.gru_dim if self.aggregator == "gru" else self.conv_aggregator_layers[-1][0]

    @property
    def hidden_size(self) -> int:
        """Alias of ``context_dim`` for code that reads ``config.hidden_size``."""
        return self.context_dim

    @property
    def receptive_field(self) -> int:
        """Encoder receptive field in samples (465 for the paper's encoder)."""
        field, jump = 0, 0
        for _, kernel, stride in self.conv_feature_layers:
            field = kernel if field == 0 else field + (kernel - 1) * jump
            jump = stride if jump == 0 else jump * stride
        return field

    @property
    def total_stride(self) -> int:
        """Encoder hop in samples (160 = 10 ms at 16 kHz for the paper's encoder)."""
        return math.prod(stride for _, _, stride in self.conv_feature_layers)

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Samples per frame (the name transformers' pipelines use)."""
        return self.total_stride

    @property
    def frames_per_second(self) -> float:
        """Encoder frames per second of audio (100 for the paper at 16 kHz)."""
        return self.sampling_rate / self.total_stride

    @property
    def resolved_offset(self) -> int:
        """The offset in frames, with ``"auto"`` resolved as fairseq does: ceil(receptive field / hop)."""
        if self.offset == "auto":
            return math.ceil(self.receptive_field / self.total_stride)
        return int(self.offset)

    @property
    def num_codevector_combinations(self) -> int:
        """V ** G, the number of distinct frame codes (102,400 for V = 320, G = 2)."""
        return self.vq_vars**self.vq_groups if self.vq_type != "none" else 0

    def num_frames(self, num_samples: int) -> int:
        """Encoder frames for an input of ``num_samples`` samples (0 when shorter than the receptive field)."""
        length = num_samples
        for _, kernel, stride in self.conv_feature_layers:
            if length < kernel:
                return 0
            length = (length - kernel) // stride + 1
        return length

    def min_input_length(self, num_frames: int = 1) -> int:
        """The fewest samples that give ``num_frames`` encoder frames."""
        return self.receptive_field + (max(num_frames, 1) - 1) * self.total_stride

    @property
    def min_pretraining_frames(self) -> int:
        """Frames needed so that every prediction step has a target: offset + prediction_steps."""
        return self.resolved_offset + self.prediction_steps


class VQWav2VecConfig(Wav2VecConfig):
    r"""Configuration of vq-wav2vec: wav2vec with a Gumbel-softmax or k-means quantiser.

    Defaults are the released Gumbel model (``vq-wav2vec.pt``, fairseq README command): 8 encoder
    layers (5 + three 1x1), GELU, no log compression, a 12-layer context network with kernels
    2..13 and skip connections, G = 2 groups of V = 320 codewords shared by the groups
    (``combine_groups``), a 2-layer logit projection, temperature 2 -> 0.5 (decay 0.999995 per
    update). See ``Wav2VecConfig`` for every field.
    """

    model_type = "vq-wav2vec"

    conv_feature_layers: list | tuple = VQ_WAV2VEC_FEATURE_LAYERS
    conv_aggregator_layers: list | tuple = WAV2VEC_LARGE_AGGREGATOR_LAYERS
    activation: str = "gelu"
    skip_connections_agg: bool = True
    vq_type: str = "gumbel"
    vq_depth: int = 2
    combine_groups: bool = True

    def _check(self) -> None:
        if self.vq_type == "none":
            raise ValueError(
                "VQWav2VecConfig.vq_type='none': vq-wav2vec needs a quantiser ('gumbel' or 'kmeans'); "
                "use Wav2VecConfig for wav2vec without one."
            )
        super()._check()


def _head_specs(value) -> tuple[HeadLayerSpec, ...]:
    try:
        specs = tuple((int(dim), int(kernel)) for dim, kernel in value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"ctc_head_layers={value!r}: give a list of (channels, kernel) pairs.") from error
    if any(dim < 1 or kernel < 1 for dim, kernel in specs):
        raise ValueError(f"ctc_head_layers={value!r}: channels and kernels must be positive.")
    return specs


def _layer_specs(value, field: str) -> tuple[LayerSpec, ...]:
    try:
        specs = tuple((int(dim), int(kernel), int(stride)) for dim, kernel, stride in value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{field}={value!r}: give a list of (channels, kernel, stride) triples.") from error
    if any(dim < 1 or kernel < 1 or stride < 1 for dim, kernel, stride in specs):
        raise ValueError(f"{field}={value!r}: channels, kernels and strides must be positive.")
    return specs


__all__ = ["VQWav2VecConfig", "Wav2VecConfig"]

"""rnnx.Model: the CLI's model JSON fields from a dict, a JSON string or keywords; its errors."""

import json
import pickle

import pytest

import rnnx
from conftest import MIXED, make_model


def test_from_dict_json_and_keywords_agree():
    from_dict = rnnx.Model(MIXED)
    from_json = rnnx.Model(json.dumps(MIXED))
    from_keywords = rnnx.Model(**MIXED)
    assert from_dict == from_json == from_keywords
    assert rnnx.Model(from_dict) == from_dict
    assert rnnx.Model(from_dict.to_json()) == from_dict


def test_fields_and_defaults():
    model = rnnx.Model(input_size=5, layers=[{"cell": "gru", "hidden": 8}])
    assert model.input_size == 5
    assert model.dtype == "float32"
    assert model.state_dtype == "float32"
    assert model.layout == "time_major"
    assert model.output_size == 8
    assert model.layers == [
        {"cell": "gru", "hidden": 8, "bidirectional": False, "gru_reset": "after"}
    ]
    mixed = make_model()
    assert mixed.output_size == 2
    assert mixed.to_dict()["layers"][0] == {
        "cell": "lstm",
        "hidden": 4,
        "bidirectional": False,
        "forget_bias": 1.0,
    }


def test_keywords_replace_keys_of_the_spec():
    model = rnnx.Model(MIXED, dtype="float32", layout="batch_major")
    assert model.dtype == "float32" and model.layout == "batch_major"
    assert rnnx.Model(model, input_size=7).input_size == 7


def test_repr_is_describe():
    model = make_model()
    assert repr(model) == "rnnx.Model(" + model.describe() + ")"
    assert model.describe() == (
        "float64 time_major I=3: lstm(4, fb=1) -> bi_gru(3, reset before) -> rnn(2, relu)"
    )


def test_half_models_have_float32_states():
    model = rnnx.Model(input_size=4, dtype="bfloat16", layers=[{"cell": "lstm", "hidden": 16}])
    assert model.dtype == "bfloat16" and model.state_dtype == "float32"


def test_pickle_round_trip():
    model = make_model()
    assert pickle.loads(pickle.dumps(model)) == model


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"layers": [{"cell": "lstm", "hidden": 4}]}, "model: input_size: missing"),
        ({"input_size": 0, "layers": [{"cell": "lstm", "hidden": 4}]}, "input_size: expected an"),
        ({"input_size": True, "layers": [{"cell": "lstm", "hidden": 4}]}, "found bool"),
        ({"input_size": 2.5, "layers": [{"cell": "lstm", "hidden": 4}]}, "found 2.5"),
        ({"input_size": 3, "layers": []}, "model: layers: expected a non-empty list"),
        ({"input_size": 3}, "model: layers: expected a non-empty list"),
        ({"input_size": 3, "layers": [{"cell": "lstm"}]}, "layers[0].hidden: missing"),
        ({"input_size": 3, "layers": [{"hidden": 3}]}, "layers[0].cell: missing"),
        (
            {
                "input_size": 3,
                "layers": [{"cell": "lstm", "hidden": 4}, {"cell": "x", "hidden": 1}],
            },
            'layers[1].cell: unknown value "x" (allowed: "lstm", "gru", "rnn")',
        ),
        ({"input_size": 3, "layers": [{"cell": "gru", "hidden": 0}]}, "layers[0].hidden"),
        (
            {"input_size": 3, "layers": [{"cell": "gru", "hidden": 3, "forget_bias": 1.0}]},
            "layers[0].forget_bias: applies to LSTM layers only",
        ),
        (
            {"input_size": 3, "layers": [{"cell": "lstm", "hidden": 3, "gru_reset": "after"}]},
            "layers[0].gru_reset: applies to GRU layers only",
        ),
        (
            {"input_size": 3, "layers": [{"cell": "rnn", "hidden": 3, "activation": "sigmoid"}]},
            'layers[0].activation: unknown value "sigmoid"',
        ),
        (
            {"input_size": 3, "layers": [{"cell": "rnn", "hidden": 3, "bidirectional": 1}]},
            "layers[0].bidirectional: expected True or False",
        ),
        (
            {"input_size": 3, "layers": [{"cell": "lstm", "hidden": 3, "forget_bias": "1"}]},
            "layers[0].forget_bias: expected a number",
        ),
        (
            {"input_size": 3, "layers": [{"cell": "lstm", "hidden": 3, "peephole": True}]},
            "layers[0].peephole: unknown key",
        ),
        ({"input_size": 3, "dtype": "int8", "layers": [{"cell": "lstm", "hidden": 3}]}, "dtype"),
        ({"input_size": 3, "layout": "tbi", "layers": [{"cell": "lstm", "hidden": 3}]}, "layout"),
        ({"input_size": 3, "hidden": 3, "layers": [{"cell": "lstm", "hidden": 3}]}, "hidden"),
        ({"input_size": 3, "layers": ["lstm"]}, "layers[0]: expected a dict, found str"),
        ("{not json", "model: the string is not JSON"),
        ("[1, 2]", "model: the JSON is a list, expected an object"),
        (42, "model: expected a dict, a JSON string or an rnnx.Model, found int"),
    ],
)
def test_invalid_models_name_the_key(spec, message):
    with pytest.raises(rnnx.InvalidArgumentError) as raised:
        rnnx.Model(spec)
    assert message in str(raised.value)
    assert raised.value.status == "invalid_argument"
    assert isinstance(raised.value, ValueError)

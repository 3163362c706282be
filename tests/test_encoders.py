"""NatureCNN / FineNatureCNN: the map they return, input handling, the factory."""

import pytest
import torch

from gazelab.method.encoders import ENCODER_KINDS, FineNatureCNN, NatureCNN, make_encoder


@pytest.mark.parametrize(
    "cls, image_size, channels, map_size",
    [(NatureCNN, 64, 64, (4, 4)), (NatureCNN, 128, 64, (12, 12)), (FineNatureCNN, 64, 32, (10, 10)),
     (FineNatureCNN, 128, 32, (26, 26))],
)
def test_map_shape_matches_attributes(cls, image_size, channels, map_size):
    encoder = cls(image_size=image_size)
    rgb = torch.randint(0, 256, (2, image_size, image_size, 3), dtype=torch.uint8)
    fmap = encoder(rgb)
    assert encoder.out_channels == channels and encoder.map_size == map_size
    assert fmap.shape == (2, channels, *map_size) and fmap.dtype == torch.float32
    assert (fmap >= 0).all()  # ends with a ReLU, like ManiSkill's NatureCNN


def test_fine_map_is_at_least_8x8_at_64():
    assert min(FineNatureCNN(image_size=64).map_size) >= 8


def test_nature_cnn_is_maniskills_conv_stack():
    convs = [m for m in NatureCNN(image_size=128).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (3, 32, (8, 8), (4, 4), (0, 0)),
        (32, 64, (4, 4), (2, 2), (0, 0)),
        (64, 64, (3, 3), (1, 1), (0, 0)),
    ]


@pytest.mark.parametrize("cls", [NatureCNN, FineNatureCNN])
def test_uint8_is_scaled_to_unit_range_and_channels_moved_first(cls):
    torch.manual_seed(0)
    encoder = cls(image_size=64)
    rgb = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    expected = encoder.net(rgb.permute(0, 3, 1, 2).float() / 255.0)
    torch.testing.assert_close(encoder(rgb), expected)
    torch.testing.assert_close(encoder(rgb.float() / 255.0), expected)  # float input is taken as already in [0, 1]


def test_in_channels_option():
    encoder = NatureCNN(image_size=64, in_channels=6)
    assert encoder(torch.zeros(1, 64, 64, 6, dtype=torch.uint8)).shape == (1, 64, 4, 4)


@pytest.mark.parametrize("cls", [NatureCNN, FineNatureCNN])
def test_wrong_image_shape_raises(cls):
    encoder = cls(image_size=64)
    for bad in (torch.zeros(1, 3, 64, 64), torch.zeros(1, 32, 32, 3), torch.zeros(64, 64, 3)):
        with pytest.raises(ValueError, match="rgb"):
            encoder(bad)


def test_make_encoder_and_its_errors():
    assert isinstance(make_encoder("nature", 64), NatureCNN)
    assert isinstance(make_encoder("fine", 64), FineNatureCNN)
    assert set(ENCODER_KINDS) == {"nature", "fine"}
    with pytest.raises(ValueError, match="kind"):
        make_encoder("resnet", 64)
    with pytest.raises(ValueError, match="image_size"):
        make_encoder("nature", NatureCNN.min_image_size() - 1)
    with pytest.raises(ValueError, match="image_size"):
        make_encoder("fine", FineNatureCNN.min_image_size() - 1)
    make_encoder("nature", NatureCNN.min_image_size())  # the smallest allowed size works ...
    assert make_encoder("fine", FineNatureCNN.min_image_size()).map_size == (1, 1)  # ... and gives a 1x1 map


@pytest.mark.parametrize("cls, image_size", [(FineNatureCNN, 64), (NatureCNN, 128)])
def test_map_and_image_coordinates_are_inverse(cls, image_size):
    cnn = cls(image_size)
    xy = torch.rand(7, 2) * 2 - 1
    torch.testing.assert_close(cnn.image_to_map(cnn.map_to_image(xy)), xy)
    centres = cnn.cell_centres()
    assert centres.shape == (cnn.map_size[0] * cnn.map_size[1], 2)
    # row-major like fmap.flatten(2): the second cell is one column to the right of the first
    assert centres[1, 0] > centres[0, 0] and centres[1, 1] == centres[0, 1]

"""Keras guide "The Functional API", part "Models with multiple inputs and outputs": the
ticket classifier (title, body, tags -> priority, department), with dict inputs and
targets by name, and a shared-layer / residual part. Dummy data as in the guide, made
small."""
import numpy as np
import ember as keras  # was: import keras
from ember import layers  # was: from keras import layers

num_tags = 12  # Number of unique issue tags
num_words = 1000  # Size of vocabulary obtained when preprocessing text data
num_departments = 4  # Number of departments for predictions

title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

# Embed each word in the title into a 64-dimensional vector
title_features = layers.Embedding(num_words, 16)(title_input)
# Embed each word in the text into a 64-dimensional vector
body_features = layers.Embedding(num_words, 16)(body_input)

# Reduce sequence of embedded words in the title into a single 128-dimensional vector
title_features = layers.LSTM(16)(title_features)
# Reduce sequence of embedded words in the body into a single 32-dimensional vector
body_features = layers.LSTM(8)(body_features)

# Merge all available features into a single large vector via concatenation
x = layers.concatenate([title_features, body_features, tags_input])

# Stick a logistic regression for priority prediction on top of the features
priority_pred = layers.Dense(1, name="priority")(x)
# Stick a department classifier on top of the features
department_pred = layers.Dense(num_departments, name="department")(x)

# Instantiate an end-to-end model predicting both priority and department
model = keras.Model(
    inputs=[title_input, body_input, tags_input],
    outputs={"priority": priority_pred, "department": department_pred},
)

model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "priority": keras.losses.BinaryCrossentropy(from_logits=True),
        "department": keras.losses.CategoricalCrossentropy(from_logits=True),
    },
    loss_weights={"priority": 1.0, "department": 0.2},
)

# Dummy input data
title_data = np.random.randint(num_words, size=(128, 10))
body_data = np.random.randint(num_words, size=(128, 20))
tags_data = np.random.randint(2, size=(128, num_tags)).astype("float32")

# Dummy target data
priority_targets = np.random.random(size=(128, 1))
dept_targets = np.random.randint(2, size=(128, num_departments))

history = model.fit(
    {"title": title_data, "body": body_data, "tags": tags_data},
    {"priority": priority_targets, "department": dept_targets},
    epochs=2,
    batch_size=32,
    verbose=0,
)
print({k: [round(v, 4) for v in vals] for k, vals in history.history.items()})
assert history.history["loss"][-1] < history.history["loss"][0]

# The inputs are matched by name, in whatever order the dict lists them
pred_a = model.predict({"title": title_data, "body": body_data, "tags": tags_data}, verbose=0)
pred_b = model.predict({"tags": tags_data, "body": body_data, "title": title_data}, verbose=0)
assert np.array_equal(pred_a["department"], pred_b["department"])
pred_c = model.predict([title_data, body_data, tags_data], verbose=0)
assert np.array_equal(pred_a["priority"], pred_c["priority"])
try:
    model.predict({"title": title_data, "body": body_data}, verbose=0)
    raise AssertionError("a missing input must be an error")
except ValueError as e:
    assert "tags" in str(e), e

# A two-input model computing a - b: the dict order does not matter
a = keras.Input(shape=(3,), name="a")
b = keras.Input(shape=(3,), name="b")
diff = keras.Model([a, b], layers.Subtract()([a, b]))
xa, xb = np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")
assert (diff.predict({"b": xb, "a": xa}, verbose=0) == 1).all()

# A toy ResNet model (the guide's shared layers / non-linear topology part), small
inputs = keras.Input(shape=(8, 8, 3), name="img")
x = layers.Conv2D(8, 3, activation="relu")(inputs)
block_1_output = layers.MaxPooling2D(2)(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_1_output)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
block_2_output = layers.Add()([x, block_1_output])
x = layers.GlobalAveragePooling2D()(block_2_output)
outputs = layers.Dense(10)(x)
resnet = keras.Model(inputs, outputs, name="toy_resnet")
resnet.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    metrics=["acc"],
)
x_train = np.random.random((64, 8, 8, 3)).astype("float32")
y_train = keras.utils.to_categorical(np.random.randint(10, size=64), 10)
h = resnet.fit(x_train, y_train, batch_size=16, epochs=2, validation_split=0.25, verbose=0)
assert set(h.history) == {"loss", "acc", "val_loss", "val_acc"}, h.history.keys()
print("functional_api_multi_io ok")

"""The official openai Python SDK against Switchyard's edge, unchanged.

Clients use strict response validation, so every field the SDK's types require
must be present, and max_retries=0 so error classes surface at once."""
import asyncio

import openai
import pytest


def client(base_url, api_key, **kw):
    return openai.OpenAI(
        base_url=f"{base_url}/v1",
        api_key=api_key,
        max_retries=0,
        _strict_response_validation=True,
        **kw,
    )


MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello sdk"},
]


def test_create(base_url, api_key):
    r = client(base_url, api_key).chat.completions.create(model="chat-model", messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "echo: hello sdk"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0


def test_create_with_raw_response_headers(base_url, api_key):
    raw = client(base_url, api_key).chat.completions.with_raw_response.create(
        model="chat-model", messages=MESSAGES
    )
    assert raw.headers.get("x-request-id")
    assert raw.parse().choices[0].message.content == "echo: hello sdk"


def test_response_cache_hits_unary_and_streamed(base_url, api_key):
    c = client(base_url, api_key)
    messages = [{"role": "user", "content": "cache me"}]
    first = c.chat.completions.with_raw_response.create(model="cached-model", messages=messages)
    again = c.chat.completions.with_raw_response.create(model="cached-model", messages=messages)
    assert first.headers["x-switchyard-cache"] == "miss"
    assert again.headers["x-switchyard-cache"] == "hit"
    assert again.headers["x-switchyard-cost-micros"] == "0"
    assert again.parse().model_dump() == first.parse().model_dump()
    # `Cache-Control: no-cache` asks the provider again.
    fresh = c.chat.completions.with_raw_response.create(
        model="cached-model", messages=messages, extra_headers={"Cache-Control": "no-cache"}
    )
    assert fresh.headers["x-switchyard-cache"] == "bypass"

    def streamed():
        with c.chat.completions.with_streaming_response.create(
            model="cached-model", messages=messages, stream=True,
            stream_options={"include_usage": True},
        ) as response:
            chunks = [chunk.model_dump() for chunk in response.parse()]
            return response.headers["x-switchyard-cache"], chunks

    status, chunks = streamed()
    assert status == "miss" and chunks[-1]["usage"]["total_tokens"] > 0
    assert streamed() == ("hit", chunks)


def test_stream_with_usage(base_url, api_key):
    stream = client(base_url, api_key).chat.completions.create(
        model="chat-model",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello sdk"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_stream_helper(base_url, api_key):
    with client(base_url, api_key).chat.completions.stream(
        model="chat-model", messages=MESSAGES
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "echo: hello sdk"


def test_async_stream(base_url, api_key):
    async def run():
        c = openai.AsyncOpenAI(
            base_url=f"{base_url}/v1",
            api_key=api_key,
            max_retries=0,
            _strict_response_validation=True,
        )
        stream = await c.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)
        parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
        await c.close()
        return "".join(parts)

    assert len(asyncio.run(run()).split()) == 12


def test_models(base_url, api_key):
    c = client(base_url, api_key)
    ids = [m.id for m in c.models.list()]
    assert "chat-model" in ids and "mock-model" in ids
    model = c.models.retrieve("chat-model")
    assert model.id == "chat-model" and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("no-such-model")


def test_embeddings_default_base64_and_float(base_url, api_key):
    # Without encoding_format the SDK asks for base64 and decodes it after parsing.
    # Its (private) strict mode validates before decoding and so rejects a base64
    # answer from OpenAI itself; users get the default, non-strict client.
    default = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    r = default.embeddings.create(model="embed-model", input=["one", "three"])
    assert [d.index for d in r.data] == [0, 1]
    assert r.data[0].embedding == [0.5, -0.25, 3.0, 1.0]
    assert r.usage.prompt_tokens > 0
    c = client(base_url, api_key)
    r = c.embeddings.create(model="embed-model", input="one", encoding_format="float")
    assert r.data[0].embedding == [0.5, -0.25, 3.0, 1.0]


def test_bad_key_is_authentication_error(base_url, api_key):
    with pytest.raises(openai.AuthenticationError) as e:
        client(base_url, "sy_notarealkey_0000").chat.completions.create(
            model="chat-model", messages=MESSAGES
        )
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"


def test_unknown_model_is_not_found(base_url, api_key):
    with pytest.raises(openai.NotFoundError) as e:
        client(base_url, api_key).chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert e.value.code == "model_not_found"


def test_rate_limit_error(base_url, api_key):
    with pytest.raises(openai.RateLimitError) as e:
        client(base_url, api_key).chat.completions.create(model="limited", messages=MESSAGES)
    # The provider asked for 7 s. An earlier test may have met the same 429, in
    # which case the gateway answers from the deployment's cool-down without
    # asking the provider again, with what is left of the 7 s.
    assert 1 <= int(e.value.response.headers["retry-after"]) <= 7


def test_gateway_rate_limit_is_rate_limit_error_with_openai_headers(base_url, one_rpm_key):
    c = client(base_url, one_rpm_key)
    c.chat.completions.create(model="priced-mock", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="priced-mock", messages=MESSAGES)
    headers = e.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert e.value.code == "rate_limit_exceeded"


def test_exhausted_budget_is_not_retried(base_url, no_budget_key):
    # With the SDK's own retries on, the 429 still surfaces at once: the gateway
    # says `x-should-retry: false`, so the SDK does not retry.
    c = openai.OpenAI(base_url=f"{base_url}/v1", api_key=no_budget_key, max_retries=3)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="priced-mock", max_tokens=12, messages=MESSAGES)
    assert e.value.code == "budget_exceeded"
    assert e.value.type == "insufficient_quota"
    assert e.value.response.headers["x-should-retry"] == "false"


def test_bad_request(base_url, api_key):
    with pytest.raises(openai.BadRequestError):
        client(base_url, api_key).chat.completions.create(model="chat-model", messages=[])


def test_upstream_failure_is_server_error(base_url, api_key):
    with pytest.raises(openai.InternalServerError) as e:
        client(base_url, api_key).chat.completions.create(model="failing", messages=MESSAGES)
    assert e.value.status_code == 502


def test_cut_stream_raises(base_url, api_key):
    stream = client(base_url, api_key).chat.completions.create(
        model="cut", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_logprobs_unary_and_streamed(base_url, api_key):
    c = client(base_url, api_key)
    r = c.chat.completions.create(
        model="chat-model", messages=MESSAGES, logprobs=True, top_logprobs=2
    )
    tokens = r.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == r.choices[0].message.content
    assert all(t.logprob < 0 and len(t.top_logprobs) == 2 for t in tokens)
    assert bytes(tokens[0].bytes).decode() == tokens[0].token
    streamed = [
        t.token
        for chunk in c.chat.completions.create(
            model="chat-model", messages=MESSAGES, logprobs=True, stream=True
        )
        if chunk.choices and chunk.choices[0].logprobs
        for t in chunk.choices[0].logprobs.content
    ]
    assert "".join(streamed) == r.choices[0].message.content


def test_reasoning_content(base_url, api_key):
    c = client(base_url, api_key)
    r = c.chat.completions.create(model="reasoner-model", messages=MESSAGES)
    assert r.choices[0].message.reasoning_content == "Thinking about: hello sdk"
    assert r.choices[0].message.content == "echo: hello sdk"
    thoughts = "".join(
        getattr(chunk.choices[0].delta, "reasoning_content", None) or ""
        for chunk in c.chat.completions.create(model="reasoner-model", messages=MESSAGES, stream=True)
        if chunk.choices
    )
    assert thoughts == "Thinking about: hello sdk"


PDF = "data:application/pdf;base64,JVBERi0xLjQK"


def test_file_part(base_url, api_key):
    r = client(base_url, api_key).chat.completions.create(
        model="chat-model",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_data": PDF, "filename": "report.pdf"}},
                    {"type": "text", "text": "summarize the file"},
                ],
            }
        ],
    )
    assert r.choices[0].message.content == "echo: summarize the file"
    with pytest.raises(openai.BadRequestError) as e:
        client(base_url, api_key).chat.completions.create(
            model="chat-model",
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}],
        )
    assert e.value.param == "messages[0].content[0].file.file_id"


def test_legacy_completions(base_url, api_key):
    """`client.completions`: OpenAI's legacy text completions, strictly validated,
    with the legacy `logprobs` lists."""
    r = client(base_url, api_key).completions.create(
        model="chat-model", prompt="Once upon a time", max_tokens=16, logprobs=2
    )
    assert r.object == "text_completion"
    choice = r.choices[0]
    assert choice.text == " continues Once upon a time"
    assert choice.finish_reason == "stop"
    assert "".join(choice.logprobs.tokens) == choice.text
    assert choice.logprobs.token_logprobs == [-0.25] * len(choice.logprobs.tokens)
    assert choice.logprobs.text_offset == [0, 10, 15, 20, 22]
    assert choice.logprobs.top_logprobs[0] == {" continues": -0.25, "alt1": -1.25}
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0


def test_legacy_completions_stream_and_echo(base_url, api_key):
    """Streamed, as users call it: the default client (OpenAI's own stream sends
    `finish_reason: null` until the end, which the SDK's strict mode refuses)."""
    c = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    stream = c.completions.create(
        model="mock-model",
        prompt=["Roses are red", "Violets are"],
        n=2,
        echo=True,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = ["", "", "", ""]
    chunks = list(stream)
    for chunk in chunks:
        assert chunk.object == "text_completion"
        for choice in chunk.choices:
            texts[choice.index] += choice.text
    assert all(t.startswith("Roses are red ") for t in texts[:2]), texts
    assert all(t.startswith("Violets are ") for t in texts[2:]), texts
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 4 * 12
    whole = c.completions.create(
        model="mock-model", prompt=["Roses are red", "Violets are"], n=2, echo=True
    )
    assert [ch.text for ch in whole.choices] == texts


def test_legacy_completions_score_a_prompt(base_url, api_key):
    """What evaluation harnesses send to score text: echo, no new tokens, log
    probabilities (the first token has none: null, as OpenAI answers)."""
    c = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0)
    r = c.completions.create(
        model="chat-model", prompt="The cat sat", echo=True, max_tokens=0, logprobs=1
    )
    choice = r.choices[0]
    assert choice.text == "The cat sat"
    assert choice.logprobs.tokens == ["The cat sat"]
    assert choice.logprobs.token_logprobs == [None]
    assert r.usage.completion_tokens == 0


def test_legacy_completions_refuse_token_prompts(base_url, api_key):
    with pytest.raises(openai.BadRequestError) as e:
        client(base_url, api_key).completions.create(model="chat-model", prompt=[1, 2, 3])
    assert e.value.param == "prompt"
    assert "token ids" in e.value.message

"""The official anthropic Python SDK against Switchyard's /v1/messages, unchanged.

base_url has no /v1 (the SDK adds /v1/messages); strict response validation makes
every field the SDK's types require mandatory; max_retries=0 surfaces error classes."""
import anthropic
import pytest


def client(base_url, api_key, **kw):
    return anthropic.Anthropic(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        _strict_response_validation=True,
        **kw,
    )


MESSAGES = [{"role": "user", "content": "hello claude"}]


def test_create(base_url, api_key):
    r = client(base_url, api_key).messages.create(
        model="chat-model", max_tokens=64, system="be brief", messages=MESSAGES
    )
    assert r.type == "message"
    assert r.role == "assistant"
    assert r.id.startswith("msg_")
    assert r.content[0].type == "text"
    assert r.content[0].text == "echo: hello claude"
    assert r.stop_reason == "end_turn"
    assert r.usage.input_tokens > 0
    assert r.usage.output_tokens > 0


def test_create_with_blocks_tools_and_options(base_url, api_key):
    # SDK 2.12's create() has no temperature/top_k parameters: they go as extra_body.
    r = client(base_url, api_key).messages.create(
        model="chat-model",
        max_tokens=64,
        system=[{"type": "text", "text": "be brief"}],
        messages=[
            {"role": "user", "content": "first"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "looking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"},
                    {"type": "text", "text": "second"},
                ],
            },
        ],
        tools=[{"name": "lookup", "description": "look", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto"},
        stop_sequences=["STOP"],
        metadata={"user_id": "u-1"},
        extra_body={"temperature": 0.2, "top_k": 5},
    )
    assert r.content[0].text == "echo: second"


def test_stream_helper(base_url, api_key):
    with client(base_url, api_key).messages.stream(
        model="mock-model", max_tokens=64, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) == 12
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_raw_stream_events(base_url, api_key):
    events = list(
        client(base_url, api_key).messages.create(
            model="chat-model", max_tokens=64, messages=MESSAGES, stream=True
        )
    )
    types = [e.type for e in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in types and "content_block_stop" in types
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "echo: hello claude"
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0


def test_bad_key_is_authentication_error(base_url, api_key):
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(base_url, "sk-not-a-key").messages.create(
            model="chat-model", max_tokens=8, messages=MESSAGES
        )
    assert e.value.status_code == 401
    assert e.value.body["error"]["type"] == "authentication_error"


def test_unknown_model_is_not_found(base_url, api_key):
    with pytest.raises(anthropic.NotFoundError) as e:
        client(base_url, api_key).messages.create(
            model="no-such-model", max_tokens=8, messages=MESSAGES
        )
    assert e.value.body["type"] == "error"


def test_rate_limit_error(base_url, api_key):
    with pytest.raises(anthropic.RateLimitError):
        client(base_url, api_key).messages.create(model="limited", max_tokens=8, messages=MESSAGES)


def test_bad_request(base_url, api_key):
    with pytest.raises(anthropic.BadRequestError):
        client(base_url, api_key).messages.create(model="chat-model", max_tokens=8, messages=[])


def test_count_tokens(base_url, api_key):
    c = client(base_url, api_key)
    short = c.messages.count_tokens(model="chat-model", system="be brief", messages=MESSAGES)
    assert isinstance(short.input_tokens, int) and short.input_tokens > 0
    longer = c.messages.count_tokens(
        model="chat-model",
        system="be brief",
        messages=MESSAGES + [
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "and now a much longer question about many things"},
        ],
        tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
    )
    assert longer.input_tokens > short.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="no-such-model", messages=MESSAGES)
    with pytest.raises(anthropic.AuthenticationError):
        client(base_url, "sk-not-a-key").messages.count_tokens(model="chat-model", messages=MESSAGES)


def test_models_list_and_retrieve(base_url, api_key):
    c = client(base_url, api_key)
    models = list(c.models.list(limit=2))  # auto-paginates over after_id
    ids = [m.id for m in models]
    assert "chat-model" in ids and len(ids) == len(set(ids)) > 2
    assert all(m.type == "model" and m.created_at.year >= 2020 for m in models)
    one = c.models.retrieve("chat-model")
    assert one.id == "chat-model" and one.display_name == "chat-model"
    with pytest.raises(anthropic.NotFoundError):
        c.models.retrieve("no-such-model")


def test_reasoning_is_thinking_blocks(base_url, api_key):
    # The upstream (OpenAI-compatible, as DeepSeek) thinks in `reasoning_content`.
    c = client(base_url, api_key)
    r = c.messages.create(model="reasoner-model", max_tokens=64, messages=MESSAGES)
    assert [b.type for b in r.content] == ["thinking", "text"]
    assert r.content[0].thinking == "Thinking about: hello claude"
    assert r.content[1].text == "echo: hello claude"
    with c.messages.stream(model="reasoner-model", max_tokens=64, messages=MESSAGES) as stream:
        thoughts = "".join(e.thinking for e in stream if e.type == "thinking")
        final = stream.get_final_message()
    assert thoughts == "Thinking about: hello claude"
    assert final.content[0].thinking == thoughts
    # Sent back with the next turn, as Claude Code does: accepted.
    again = c.messages.create(
        model="reasoner-model",
        max_tokens=64,
        messages=MESSAGES
        + [{"role": "assistant", "content": [b.model_dump() for b in final.content]}]
        + [{"role": "user", "content": "and now?"}],
    )
    assert again.content[1].text == "echo: and now?"


def test_document_block(base_url, api_key):
    r = client(base_url, api_key).messages.create(
        model="chat-model",
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
                        "title": "report",
                    },
                    {"type": "text", "text": "summarize it"},
                ],
            }
        ],
    )
    assert r.content[0].text == "echo: summarize it"

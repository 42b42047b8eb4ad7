"""The official openai Python SDK's Responses API (`client.responses`) against
Switchyard's edge, unchanged: strict response validation, the SDK's own stream
accumulator (which checks every event's ids and indexes), structured output
parsing, function calling round trips, and token counting.

Models (tests/src/mesh.rs): chat-model echoes the last user message ("echo: …",
or {"echo": …} JSON for a json_schema format); tool-model calls the first tool
with {"q": <last user message>} and, after a tool result, echoes it; mock-model
is the mock provider, which counts tokens exactly."""
import asyncio
import json

import openai
import pytest
from pydantic import BaseModel


def client(base_url, api_key, cls=openai.OpenAI):
    return cls(
        base_url=f"{base_url}/v1",
        api_key=api_key,
        max_retries=0,
        _strict_response_validation=True,
    )


LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Looks a word up.",
    "parameters": {
        "type": "object",
        "properties": {"q": {"type": "string"}},
        "required": ["q"],
        "additionalProperties": False,
    },
    "strict": True,
}


def test_create(base_url, api_key):
    r = client(base_url, api_key).responses.create(
        model="chat-model",
        instructions="be brief",
        input="hello responses",
        metadata={"suite": "python"},
    )
    assert r.object == "response"
    assert r.id.startswith("resp_")
    assert r.status == "completed"
    assert r.output_text == "echo: hello responses"
    assert r.output[0].type == "message"
    assert r.output[0].role == "assistant"
    assert r.instructions == "be brief"
    assert r.metadata == {"suite": "python"}
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0


def test_message_items_as_input(base_url, api_key):
    r = client(base_url, api_key).responses.create(
        model="chat-model",
        input=[
            {"role": "developer", "content": "answer briefly"},
            {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
            {"role": "assistant", "content": "echo: first"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert r.output_text == "echo: second"


def test_raw_stream_events(base_url, api_key):
    events = list(
        client(base_url, api_key).responses.create(model="chat-model", input="hello stream", stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: hello stream"
    final = events[-1].response
    assert final.output_text == text
    assert final.usage.output_tokens > 0


def test_stream_helper_final_response(base_url, api_key):
    with client(base_url, api_key).responses.stream(model="chat-model", input="hello helper") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "echo: hello helper"
    assert final.status == "completed"
    assert final.output_text == "echo: hello helper"


def test_async_stream_helper(base_url, api_key):
    async def run():
        async with client(base_url, api_key, openai.AsyncOpenAI).responses.stream(
            model="chat-model", input="hello async"
        ) as stream:
            async for _ in stream:
                pass
            return await stream.get_final_response()

    assert asyncio.run(run()).output_text == "echo: hello async"


def test_function_call_round_trip(base_url, api_key):
    c = client(base_url, api_key)
    history = [{"role": "user", "content": "cats"}]
    first = c.responses.create(model="tool-model", input=history, tools=[LOOKUP])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "lookup"
    assert json.loads(calls[0].arguments) == {"q": "cats"}
    history += first.output
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "42 cats"})
    second = c.responses.create(model="tool-model", input=history, tools=[LOOKUP])
    assert second.output_text == "echo: 42 cats"


def test_streamed_function_call(base_url, api_key):
    with client(base_url, api_key).responses.stream(
        model="tool-model", input="dogs", tools=[LOOKUP], tool_choice="required"
    ) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    assert json.loads(done[0].arguments) == {"q": "dogs"}
    call = final.output[0]
    assert call.type == "function_call"
    assert call.name == "lookup"
    assert json.loads(call.arguments) == {"q": "dogs"}
    assert final.tool_choice == "required"
    assert final.tools[0].name == "lookup"


class Echo(BaseModel):
    echo: str


def test_parse_structured_output(base_url, api_key):
    r = client(base_url, api_key).responses.parse(model="chat-model", input="parse me", text_format=Echo)
    assert r.output_parsed == Echo(echo="parse me")


def test_input_tokens_count_matches_usage(base_url, api_key):
    c = client(base_url, api_key)
    counted = c.responses.input_tokens.count(model="mock-model", input="count these tokens please")
    assert counted.object == "response.input_tokens"
    used = c.responses.create(model="mock-model", input="count these tokens please")
    assert counted.input_tokens == used.usage.input_tokens > 0


def test_stored_responses(base_url, api_key):
    """Stored by default: retrieved as answered, continued by
    previous_response_id (streamed, through the SDK's accumulator), deleted."""
    c = client(base_url, api_key)
    r = c.responses.create(model="chat-model", instructions="be brief", input="hi")
    assert r.store is True
    assert c.responses.retrieve(r.id).model_dump() == r.model_dump()
    with pytest.raises(openai.AuthenticationError):
        client(base_url, "sk-wrong").responses.retrieve(r.id)

    with c.responses.stream(model="chat-model", input="again", previous_response_id=r.id) as stream:
        final = stream.get_final_response()
    assert final.previous_response_id == r.id
    assert final.output_text == "echo: again"
    follow = c.responses.create(model="chat-model", input="and again", previous_response_id=final.id)
    assert follow.output_text == "echo: and again"
    # The SDK pages through the whole chain's input items (two at a time).
    items = list(c.responses.input_items.list(follow.id, limit=2, order="asc"))
    assert [i.type for i in items] == ["message"] * 5
    assert [i.role for i in items] == ["user", "assistant", "user", "assistant", "user"]
    assert items[-1].content[0].text == "and again"

    c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="chat-model", input="x", previous_response_id=r.id)
    assert e.value.param == "previous_response_id"
    assert e.value.code == "previous_response_not_found"

    unstored = c.responses.create(model="chat-model", input="x", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(unstored.id)


def test_bad_key_and_bad_tool(base_url, api_key):
    with pytest.raises(openai.AuthenticationError):
        client(base_url, "sk-wrong").responses.create(model="chat-model", input="hi")
    with pytest.raises(openai.BadRequestError) as e:
        client(base_url, api_key).responses.create(
            model="chat-model", input="hi", tools=[{"type": "web_search"}]
        )
    assert e.value.param == "tools[0].type"


def test_cut_stream_ends_without_completion(base_url, api_key):
    with pytest.raises(RuntimeError, match="response.completed"):
        with client(base_url, api_key).responses.stream(model="cut", input="hi") as stream:
            for _ in stream:
                pass
            stream.get_final_response()


def test_output_text_logprobs(base_url, api_key):
    c = client(base_url, api_key)
    r = c.responses.create(
        model="chat-model", input="how likely", include=["message.output_text.logprobs"], top_logprobs=2
    )
    part = r.output[0].content[0]
    assert "".join(t.token for t in part.logprobs) == part.text
    assert all(len(t.top_logprobs) == 2 for t in part.logprobs)
    with c.responses.stream(
        model="mock-model", input="how likely", include=["message.output_text.logprobs"]
    ) as stream:
        deltas = [e for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert all(len(e.logprobs) == 1 for e in deltas)
    assert len(final.output[0].content[0].logprobs) == len(deltas)


def test_reasoning_items(base_url, api_key):
    c = client(base_url, api_key)
    r = c.responses.create(model="reasoner-model", input="think first")
    assert [i.type for i in r.output] == ["reasoning", "message"]
    assert r.output[0].content[0].text == "Thinking about: think first"
    assert r.output_text == "echo: think first"
    with c.responses.stream(model="reasoner-model", input="think first") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.reasoning_text.delta")
        final = stream.get_final_response()
    assert deltas == "Thinking about: think first"
    assert final.output[0].type == "reasoning"
    assert final.output_text == "echo: think first"
    # The whole output sent back as history, as agent loops do.
    again = c.responses.create(
        model="reasoner-model",
        input=[{"role": "user", "content": "think first"}]
        + [i.model_dump(exclude_none=True) for i in final.output]
        + [{"role": "user", "content": "and then?"}],
    )
    assert again.output_text == "echo: and then?"


def test_input_file(base_url, api_key):
    r = client(base_url, api_key).responses.create(
        model="chat-model",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "r.pdf"},
                    {"type": "input_text", "text": "what is in it?"},
                ],
            }
        ],
    )
    assert r.output_text == "echo: what is in it?"


def test_conversations(base_url, api_key):
    """A conversation through the SDK's conversations resource: created with an
    item, used by responses (plain and streamed) that read it first and add
    their turns, its items paged by the SDK, read, deleted; then deleted."""
    c = client(base_url, api_key)
    conv = c.conversations.create(
        items=[{"type": "message", "role": "user", "content": "hello"}], metadata={"topic": "demo"}
    )
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert conv.metadata == {"topic": "demo"}
    assert c.conversations.retrieve(conv.id).model_dump() == conv.model_dump()

    r = c.responses.create(model="chat-model", input="second", conversation=conv.id)
    assert r.conversation.id == conv.id
    assert r.output_text == "echo: second"
    with c.responses.stream(model="chat-model", input="third", conversation={"id": conv.id}) as stream:
        final = stream.get_final_response()
    assert final.output_text == "echo: third"

    # The SDK follows the pages (two items at a time), oldest first.
    items = list(c.conversations.items.list(conv.id, limit=2, order="asc"))
    assert [(i.role, i.content[0].text) for i in items] == [
        ("user", "hello"),
        ("user", "second"),
        ("assistant", "echo: second"),
        ("user", "third"),
        ("assistant", "echo: third"),
    ]
    newest = c.conversations.items.list(
        conv.id, limit=1, include=["reasoning.encrypted_content", "message.output_text.logprobs"]
    )
    assert newest.data[0].id == items[-1].id and newest.has_more

    item = c.conversations.items.retrieve(items[1].id, conversation_id=conv.id)
    assert item.content[0].text == "second"
    assert c.conversations.items.delete(items[1].id, conversation_id=conv.id).id == conv.id
    with pytest.raises(openai.NotFoundError):
        c.conversations.items.retrieve(items[1].id, conversation_id=conv.id)

    added = c.conversations.items.create(conv.id, items=[{"role": "user", "content": "added"}])
    assert added.data[0].content[0].text == "added"
    assert c.conversations.update(conv.id, metadata={"topic": "other"}).metadata == {"topic": "other"}

    with pytest.raises(openai.NotFoundError):
        c.conversations.retrieve("conv_missing")
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="chat-model", input="x", conversation=conv.id, previous_response_id=r.id)
    assert e.value.param == "conversation"

    deleted = c.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        c.conversations.retrieve(conv.id)

"""A Python client generated from proto/ with grpcio-tools, calling the Gateway API
over gRPC, plus the standard health and reflection services."""
import glob
import os
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


@pytest.fixture(scope="session")
def gen(proto_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    protos = glob.glob(os.path.join(proto_root, "switchyard", "**", "*.proto"), recursive=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}",
         f"--python_out={out}", f"--grpc_python_out={out}", *protos],
        check=True,
    )
    sys.path.insert(0, str(out))
    from switchyard.gateway.v1 import gateway_pb2, gateway_pb2_grpc
    from switchyard.types.v1 import chat_pb2
    return gateway_pb2, gateway_pb2_grpc, chat_pb2


def request(chat_pb2, model="chat-model", text="hello grpc"):
    return chat_pb2.ChatRequest(
        model=model,
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])],
    )


def test_unary_chat(gen, grpc_target, api_key):
    gateway_pb2, gateway_pb2_grpc, chat_pb2 = gen
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        resp, call = stub.Chat.with_call(
            request(chat_pb2), metadata=[("authorization", f"Bearer {api_key}")]
        )
        assert resp.choices[0].message.content[0].text == "echo: hello grpc"
        assert resp.choices[0].finish_reason == chat_pb2.FINISH_REASON_STOP
        assert resp.usage.completion_tokens > 0
        assert dict(call.initial_metadata())["x-switchyard-provider"] == "upstream"


def test_streaming_chat(gen, grpc_target, api_key):
    gateway_pb2, gateway_pb2_grpc, chat_pb2 = gen
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        chunks = list(stub.ChatStream(request(chat_pb2), metadata=[("authorization", f"Bearer {api_key}")]))
    text = "".join(c.delta.content for ch in chunks for c in ch.choices if c.delta.HasField("content"))
    assert text == "echo: hello grpc"
    assert chunks[-1].HasField("usage") and chunks[-1].usage.completion_tokens > 0


def test_list_models(gen, grpc_target, api_key):
    gateway_pb2, gateway_pb2_grpc, _ = gen
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        resp = stub.ListModels(gateway_pb2.ListModelsRequest(), metadata=[("authorization", f"Bearer {api_key}")])
    assert "chat-model" in [m.id for m in resp.models]


def test_key_info(gen, grpc_target, api_key, no_budget_key):
    gateway_pb2, gateway_pb2_grpc, _ = gen
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        mine = stub.GetKeyInfo(gateway_pb2.GetKeyInfoRequest(), metadata=[("authorization", f"Bearer {api_key}")])
        capped = stub.GetKeyInfo(gateway_pb2.GetKeyInfoRequest(), metadata=[("authorization", f"Bearer {no_budget_key}")])
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetKeyInfo(gateway_pb2.GetKeyInfoRequest(), metadata=[("authorization", "Bearer sy_nope")])
    assert mine.tenant and mine.key_id and api_key.startswith(mine.key_prefix)
    assert not mine.HasField("key_budget")
    assert capped.tenant == "python-budget"
    # Messages from auth.proto and the well-known Timestamp, imported by gateway.proto.
    assert capped.key_budget.budget.limit_micros == 0
    assert capped.key_budget.spent_micros == 0 and capped.key_budget.remaining_micros == 0
    assert capped.key_budget.period_start.ToDatetime().day == 1
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_count_tokens(gen, grpc_target, api_key):
    _, gateway_pb2_grpc, chat_pb2 = gen
    metadata = [("authorization", f"Bearer {api_key}")]
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        short = stub.CountTokens(request(chat_pb2), metadata=metadata)
        longer = stub.CountTokens(request(chat_pb2, text="hello grpc, a much longer prompt"), metadata=metadata)
    # The test upstream is OpenAI-compatible: no counting API, so Switchyard counts.
    assert short.estimated and 0 < short.input_tokens < longer.input_tokens
    assert short.provider == "upstream"


def test_logprobs_reasoning_and_files(gen, grpc_target, api_key):
    _, gateway_pb2_grpc, chat_pb2 = gen
    metadata = [("authorization", f"Bearer {api_key}")]
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        asked = request(chat_pb2, model="mock-model")
        asked.logprobs = True
        asked.top_logprobs = 2
        r = stub.Chat(asked, metadata=metadata)
        tokens = r.choices[0].logprobs.content
        assert "".join(t.token for t in tokens) == r.choices[0].message.content[0].text
        assert all(len(t.top_logprobs) == 2 for t in tokens)
        # Reasoning from an upstream that thinks (DeepSeek-style reasoning_content).
        r = stub.Chat(request(chat_pb2, model="reasoner-model", text="why"), metadata=metadata)
        assert r.choices[0].message.reasoning[0].text == "Thinking about: why"
        # A file part in, next to the text the upstream echoes.
        with_file = request(chat_pb2, text="summarize")
        with_file.messages[0].content.append(
            chat_pb2.ContentPart(
                file=chat_pb2.FileData(data="JVBERi0xLjQK", media_type="application/pdf", filename="r.pdf")
            )
        )
        r = stub.Chat(with_file, metadata=metadata)
        assert r.choices[0].message.content[0].text == "echo: summarize"


def test_text_prompt(gen, grpc_target, api_key):
    """A raw text prompt (legacy completions) through Chat, to an upstream's
    completions API."""
    gateway_pb2, gateway_pb2_grpc, chat_pb2 = gen
    req = chat_pb2.ChatRequest(
        model="chat-model",
        text_prompt=chat_pb2.TextPrompt(prompts=["Once upon a time"], suffix="The end."),
    )
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        resp = stub.Chat(req, metadata=[("authorization", f"Bearer {api_key}")])
    assert resp.choices[0].message.content[0].text == " fills before The end."
    assert resp.usage.prompt_tokens > 0


def test_errors_are_status_codes(gen, grpc_target, api_key):
    _, gateway_pb2_grpc, chat_pb2 = gen
    with grpc.insecure_channel(grpc_target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            stub.Chat(request(chat_pb2), metadata=[("authorization", "Bearer sy_bad")])
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            stub.Chat(request(chat_pb2, model="nope"), metadata=[("authorization", f"Bearer {api_key}")])
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        # google.rpc.Status details travel in the grpc-status-details-bin trailer.
        trailers = dict(e.value.trailing_metadata())
        assert b"MODEL_NOT_FOUND" in trailers["grpc-status-details-bin"]


def test_health_and_reflection(grpc_target):
    with grpc.insecure_channel(grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        resp = health.Check(health_pb2.HealthCheckRequest(service="switchyard.gateway.v1.Gateway"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name for r in responses for s in r.list_services_response.service]
        assert "switchyard.gateway.v1.Gateway" in names

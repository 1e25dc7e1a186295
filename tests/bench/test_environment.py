from edgeattn.bench.environment import collect_environment, cpu_isa


def test_cpu_isa_names_the_widest_extension():
    assert cpu_isa({"sse4_2", "avx", "avx2", "fma"}) == "AVX2"
    assert cpu_isa({"avx2", "avx_vnni"}) == "AVX2 + AVX-VNNI"
    assert cpu_isa({"avx2", "avx512f", "avx512_vnni"}) == "AVX-512 + VNNI"
    assert cpu_isa({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"}) == "AVX-512 + VNNI, BF16, AMX"
    assert cpu_isa({"avx2", "avx512f"}) == "AVX-512"
    assert cpu_isa({"asimd", "asimddp"}) == "NEON + dot product"
    assert cpu_isa(set()) == "unknown"


def test_environment_records_the_isa():
    assert collect_environment()["cpu_isa"] == cpu_isa()

#!/usr/bin/env nextflow
// Score a VCF with glrm as N shards in parallel (one GPU task each), then merge them into one VCF.
//
//   nextflow run examples/nextflow/main.nf -profile test            # the demo, CPU, 3 shards, glrm on PATH
//   nextflow run examples/nextflow/main.nf -profile gpu,docker --vcf calls.vcf.gz --fasta ref.fa \
//       --model /models/hyenadna-small-32k --shards 16 --outdir results
//
// With --sv_vcf, the structural variants of that VCF are scored the same way with glrm score-sv (--sv_window,
// --sv_chunk_size, --sv_tracks; --sv_shards tasks) and merged into <sample>.sv.glrm.vcf.gz.
//
// Each merged VCF equals one glrm run on the whole input (shards are contiguous, glrm merge checks them).

nextflow.enable.dsl = 2

include { GLRM_SCORE } from './modules/glrm/score/main'
include { GLRM_SCORE_SV } from './modules/glrm/score_sv/main'
include { GLRM_MERGE } from './modules/glrm/merge/main'
include { GLRM_MERGE as GLRM_MERGE_SV } from './modules/glrm/merge/main'

workflow {
    def n = params.shards as int
    if (n < 1) {
        error "--shards ${params.shards}: it must be 1 or more"
    }

    ch_input = Channel.of([ [ id: params.sample ], file(params.vcf, checkIfExists: true), file("${params.vcf}.tbi", checkIfExists: true) ])

    // Scatter: one task per shard index 1..n (glrm score-vcf --shard i/n).
    ch_shards = ch_input
        .combine(Channel.of(1..n))
        .map { meta, vcf, tbi, i ->
            [ meta + [ id: "${meta.id}.${i}-of-${n}", sample: meta.id, shard: i, shards: n ], vcf, tbi ]
        }

    GLRM_SCORE(
        ch_shards,
        file(params.fasta, checkIfExists: true),
        file("${params.fasta}.fai", checkIfExists: true),
        file(params.model, checkIfExists: true)
    )

    // Gather: wait for all n shards of a sample, then merge (glrm merge accepts them in any order).
    ch_gather = GLRM_SCORE.out.vcf
        .map { meta, vcf -> [ [ id: meta.sample ], vcf ] }
        .groupTuple(size: n)

    GLRM_MERGE(ch_gather)

    ch_versions = GLRM_SCORE.out.versions.mix(GLRM_MERGE.out.versions)

    // Structural variants (optional): the same scatter and gather with glrm score-sv.
    if (params.sv_vcf) {
        def m = params.sv_shards as int
        if (m < 1) {
            error "--sv_shards ${params.sv_shards}: it must be 1 or more"
        }
        ch_sv = Channel.of([ [ id: "${params.sample}.sv" ], file(params.sv_vcf, checkIfExists: true), file("${params.sv_vcf}.tbi", checkIfExists: true) ])
            .combine(Channel.of(1..m))
            .map { meta, vcf, tbi, i ->
                [ meta + [ id: "${meta.id}.${i}-of-${m}", sample: meta.id, shard: i, shards: m ], vcf, tbi ]
            }
        def sv_fasta = params.sv_fasta ?: params.fasta
        GLRM_SCORE_SV(
            ch_sv,
            file(sv_fasta, checkIfExists: true),
            file("${sv_fasta}.fai", checkIfExists: true),
            file(params.sv_model ?: params.model, checkIfExists: true)
        )
        GLRM_MERGE_SV(GLRM_SCORE_SV.out.vcf.map { meta, vcf -> [ [ id: meta.sample ], vcf ] }.groupTuple(size: m))
        ch_versions = ch_versions.mix(GLRM_SCORE_SV.out.versions, GLRM_MERGE_SV.out.versions)
    }

    ch_versions.unique { it.text }.collectFile(name: 'versions.yml', storeDir: "${params.outdir}/pipeline_info")
}

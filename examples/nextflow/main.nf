#!/usr/bin/env nextflow
// Score a VCF with glrm as N shards in parallel (one GPU task each), then merge them into one VCF.
//
//   nextflow run examples/nextflow/main.nf -profile test            # the demo, CPU, 3 shards, glrm on PATH
//   nextflow run examples/nextflow/main.nf -profile gpu,docker --vcf calls.vcf.gz --fasta ref.fa \
//       --model /models/hyenadna-small-32k --shards 16 --outdir results
//
// The merged VCF equals one `glrm score-vcf` run on the whole input (shards are contiguous, glrm merge checks them).

nextflow.enable.dsl = 2

include { GLRM_SCORE } from './modules/glrm/score/main'
include { GLRM_MERGE } from './modules/glrm/merge/main'

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

    GLRM_SCORE.out.versions.mix(GLRM_MERGE.out.versions).unique { it.text }.collectFile(name: 'versions.yml', storeDir: "${params.outdir}/pipeline_info")
}

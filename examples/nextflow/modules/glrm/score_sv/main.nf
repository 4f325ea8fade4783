// glrm score_sv: score the structural variants of one VCF (or one shard of it) with windows of up to 1 Mbp.
// nf-core module layout, beside glrm/score.
//
// meta.shard / meta.shards (optional): score only shard meta.shard of meta.shards (`glrm score-sv --shard i/n`,
// 1-based). task.ext.window (default 1000000) and task.ext.chunk_size (N or auto; unset: one chunk) size the
// windows; size both, and the task's memory, with `glrm plan`. task.ext.tracks = true also writes per-position
// bedGraph tracks. More score-sv options go in task.ext.args (modules.config).

process GLRM_SCORE_SV {
    tag "${meta.id}"
    label 'process_gpu'

    container 'glrm:0.1.0-cuda'

    input:
    tuple val(meta), path(vcf), path(tbi)
    path fasta
    path fai
    path model

    output:
    tuple val(meta), path("*.glrm.vcf.gz"),     emit: vcf
    tuple val(meta), path("*.glrm.vcf.gz.tbi"), emit: tbi
    tuple val(meta), path("*.glrm.bed"),        emit: bed
    tuple val(meta), path("*.tracks"),          emit: tracks, optional: true
    path "versions.yml",                        emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def shard  = meta.shards ? "--shard ${meta.shard}/${meta.shards}" : ''
    def device = task.accelerator ? 'cuda' : 'cpu'
    def window = task.ext.window ?: 1000000
    def chunk  = task.ext.chunk_size ? "--chunk-size ${task.ext.chunk_size}" : ''
    def tracks = task.ext.tracks ? "--track-dir ${prefix}.tracks" : ''
    """
    glrm score-sv \\
        -i ${vcf} \\
        -f ${fasta} \\
        -m ${model} \\
        --window ${window} \\
        ${chunk} \\
        --device ${device} \\
        --threads ${task.cpus} \\
        ${shard} \\
        ${tracks} \\
        ${args} \\
        -o ${prefix}.glrm.vcf.gz \\
        --bed ${prefix}.glrm.bed

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        glrm: \$(glrm --version | sed 's/^glrm //')
    END_VERSIONS
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo "" | gzip > ${prefix}.glrm.vcf.gz
    touch ${prefix}.glrm.vcf.gz.tbi
    touch ${prefix}.glrm.bed

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        glrm: \$(glrm --version | sed 's/^glrm //')
    END_VERSIONS
    """
}

// glrm score: score one VCF (or one shard of it) with a DNA language model. nf-core module layout.
//
// meta.shard / meta.shards (optional): score only shard meta.shard of meta.shards (`glrm score-vcf --shard i/n`,
// 1-based); without them the whole VCF is scored. More score-vcf options go in task.ext.args (modules.config).

process GLRM_SCORE {
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
    path "versions.yml",                        emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def shard  = meta.shards ? "--shard ${meta.shard}/${meta.shards}" : ''
    def device = task.accelerator ? 'cuda' : 'cpu'
    """
    glrm score-vcf \\
        -i ${vcf} \\
        -f ${fasta} \\
        -m ${model} \\
        --device ${device} \\
        --threads ${task.cpus} \\
        ${shard} \\
        ${args} \\
        -o ${prefix}.glrm.vcf.gz

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

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        glrm: \$(glrm --version | sed 's/^glrm //')
    END_VERSIONS
    """
}

// glrm merge: join the shards of one scored VCF (checks every shard is there once, with one header, complete).

process GLRM_MERGE {
    tag "${meta.id}"
    label 'process_single'

    container 'glrm:0.1.0-cuda'

    input:
    tuple val(meta), path(shards)

    output:
    tuple val(meta), path("*.glrm.vcf.gz"),     emit: vcf
    tuple val(meta), path("*.glrm.vcf.gz.tbi"), emit: tbi
    path "versions.yml",                        emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    glrm merge ${args} -o ${prefix}.glrm.vcf.gz ${shards}

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

#!/usr/bin/env pwsh
# GpuDistill build tasks. Run as: dotnet tool restore; dotnet pwsh build.ps1 <task>
# Each task is a thin wrapper over the dotnet command printed before it runs.
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'pack', 'bundle')]
    [string] $Task = 'build',

    # Extra arguments passed through to the underlying command (e.g. bench -- --quick).
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]] $Rest = @()
)

$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Dotnet([string[]] $Arguments) {
    Write-Host "dotnet $($Arguments -join ' ')" -ForegroundColor Cyan
    & dotnet @Arguments
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

switch ($Task) {
    'build' { Invoke-Dotnet (@('build', 'GpuDistill.sln', '-c', 'Release') + $Rest) }
    'test'  { Invoke-Dotnet (@('test', 'GpuDistill.sln') + $Rest) }
    'bench' { Invoke-Dotnet (@('run', '-c', 'Release', '--project', 'perf/GpuDistill.Perf', '--') + $Rest) }
    'pack'  { Invoke-Dotnet (@('pack', 'GpuDistill.sln', '-c', 'Release', '-o', 'artifacts/packages') + $Rest) }
    # The portable GPU benchmark: artifacts/gpu-bundle/ and artifacts/gpu-bundle.tar.gz (perf/GpuDistill.GpuBench/GpuBundle.targets).
    'bundle' {
        Invoke-Dotnet (@('publish', 'perf/GpuDistill.GpuBench/GpuDistill.GpuBench.csproj', '-c', 'Release', '-r', 'linux-x64',
            '-p:GpuBundle=true', '-p:SelfContained=true', '-p:PublishSingleFile=true', '-p:EnableCompressionInSingleFile=true') + $Rest)
    }
}
